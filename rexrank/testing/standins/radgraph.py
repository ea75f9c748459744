"""Random-weight stand-ins for RadGraph: ``radgraph.tar.gz`` + the PubMedBERT encoder it names,
and the same for radgraph 0.1.18's ``radgraph-xl`` (a BERT encoder) and ``modern-radgraph-xl``
(a ModernBERT encoder with a byte-level BPE tokenizer).

* ``build_pubmedbert``: what ``microsoft/BiomedNLP-PubMedBERT-base-uncased-abstract-fulltext``
  holds (config, WordPiece ``vocab.txt``, tokenizer config, and ``model.safetensors``, which the
  official package loads before ``weights.th`` overwrites it).
* ``build_radgraph``: ``radgraph.tar.gz`` as in ``StanfordAIMI/RRG_scorers`` (``config.json``,
  ``vocabulary/``, ``weights.th`` at the top level), written by radgraph 0.1.18's own classes in
  the oracle venv so both implementations load the same file. ``size="tiny"``: 2-layer,
  hidden-32 encoder; ``size="real"``: BERT-base encoder, DyGIE++ defaults (feature size 20,
  span width 8, feedforward 2×150).

The final scorer layers are scaled and shifted (``SCALING``) so random weights emit a mix of
entities and relations, as a trained model does.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tarfile
from pathlib import Path

from rexrank.metrics.oracle.client import TASKS, oracle_python


PUBMEDBERT_ID = "microsoft/BiomedNLP-PubMedBERT-base-uncased-abstract-fulltext"
RRG_ID = "StanfordAIMI/RRG_scorers"
# The encoder each stand-in archive's config.json names. radgraph-xl's is CXR-BERT (RadEval's docs;
# a public deployment pins this repo for radgraph-xl.tar.gz); modern-radgraph-xl's real id could not
# be established without Hub access, so the stand-in names a ModernBERT id of its own: the scorer
# reads whichever id the archive names, so nothing depends on this one.
ENCODER_IDS = {"radgraph": PUBMEDBERT_ID, "radgraph-xl": "microsoft/BiomedVLP-CXR-BERT-general",
               "modern-radgraph-xl": "answerdotai/ModernBERT-base"}
# (scale, bias shift per label) of the final NER (ANAT-DP, OBS-DP, OBS-U, OBS-DA) and relation
# (modify, located_at, suggestive_of) layers, and the mention pruner's scale, per size: chosen on
# IU-Xray findings so that about one span in six is an entity, all labels occur, relations are
# found, and a 600-word report stays cheap for the official code (its postprocessing is
# quadratic in the number of raw relations).
SCALING = {"tiny": (30.0, [-1.03, 3.19, -5.48, -2.65], [1.1, 1.4, -0.7], 0.1),
           "real": (30.0, [-1.08, -4.23, 1.88, 1.18], [-1.5, 1.8, -4.5], 0.1)}
# The same for the XL models' 11 NER labels (in the oracle task's XL_NER_LABELS order).
XL_SCALING = {  # fitted on IU-Xray findings: every label occurs, about one span in twelve is an entity
    "radgraph-xl": {"tiny": (30.0, [0.54, -1.22, -3.71, -2.51, -0.74, -3.3, -2.05, -0.96, -1.04, -7.88, -0.02],
                             [3.46, 4.92, 5.68], 0.1)},
    "modern-radgraph-xl": {"tiny": (30.0, [0.11, 0.19, -4.93, -2.29, -1.72, -2.31, -2.09, -1.23, -0.3, -8.06, -0.87],
                                    [-0.42, 4.04, 1.6], 0.1)},
}


WORDS = ("no pleural effusion pneumothorax focal consolidation mild moderate small large left right bilateral "
         "heart size normal cardiomediastinal silhouette lungs are clear there is of and with without the "
         "stable unchanged opacity opacities atelectasis cardiomegaly edema lobe lower upper xxxx acute "
         "disease process within limits bony abnormality thoracic spine degenerative changes").split()


def _vocab(extra_texts: list[str] | None, size: str) -> list[str]:
    """A deterministic WordPiece vocabulary: BERT's special ids, common words, every ASCII
    character as a word start and as ``##`` continuation (so any English text tokenises)."""
    from collections import Counter

    specials = {0: "[PAD]", 100: "[UNK]", 101: "[CLS]", 102: "[SEP]", 103: "[MASK]"}
    words = list(WORDS)
    if extra_texts and size == "real":  # the corpus's frequent words, ties broken alphabetically
        counts = Counter(w for t in extra_texts for w in re.findall(r"[a-z]+", t.lower()))
        words += [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3000]]
    chars = [chr(c) for c in range(33, 127) if not chr(c).isupper()]
    tokens = [specials.get(i, f"[unused{i}]") for i in range(104)]
    tokens += list(dict.fromkeys(words + chars + ["##" + c for c in chars if c.isalnum()]))
    return list(dict.fromkeys(tokens))


def build_pubmedbert(out_dir: str | Path, size: str = "tiny", seed: int = 0,
                     extra_texts: list[str] | None = None) -> Path:
    """PubMedBERT's files (config, ``vocab.txt``, tokenizer config) with random BertModel weights,
    which the official package loads before ``weights.th`` overwrites them."""
    import torch
    from transformers import BertConfig, BertModel

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    vocab = _vocab(extra_texts, size)
    (out / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    (out / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True, "model_max_length": 512}))
    dims = (dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                 vocab_size=30522) if size == "real" else
            dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                 vocab_size=len(vocab)))
    config = BertConfig(architectures=["BertForMaskedLM"], max_position_embeddings=512, type_vocab_size=2,
                        pad_token_id=0, layer_norm_eps=1e-12, **dims)
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(str(out))
    return out


def _oracle_task(request: dict) -> None:
    """Run one action of the oracle's radgraph task (radgraph 0.1.18's own classes) in its venv."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""})
    python = oracle_python()
    if not python.exists():
        raise FileNotFoundError(f"oracle venv not found at {python}: run `bash scripts/oracle_env.sh`")
    subprocess.run([str(python), "-P", str(TASKS / "radgraph.py"), json.dumps(request)],
                   check=True, env=env, stdout=subprocess.DEVNULL)


def build_radgraph(out_dir: str | Path, encoder_dir: str | Path, size: str = "tiny", seed: int = 0,
                   model_type: str = "radgraph") -> Path:
    """Write ``out_dir/<model_type>.tar.gz`` (and its extracted ``out_dir/<model_type>/``, where
    radgraph 0.1.18 looks first) for ``encoder_dir``, its config naming the encoder's Hub id."""
    out = Path(out_dir)
    model_dir = out / model_type
    scale, ner_bias, rel_bias, mention_scale = (SCALING if model_type == "radgraph" else XL_SCALING[model_type])[size]
    _oracle_task({"action": "build", "model_dir": str(model_dir), "encoder_dir": str(encoder_dir),
                  "encoder_name": ENCODER_IDS[model_type], "seed": seed, "scale": scale, "ner_bias": ner_bias,
                  "rel_bias": rel_bias, "mention_scale": mention_scale, "model_type": model_type})
    archive = out / f"{model_type}.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in ("config.json", "vocabulary", "weights.th"):
            tar.add(model_dir / name, arcname=name)
    return archive


def build_encoder(out_dir: str | Path, model_type: str, size: str = "tiny", seed: int = 0,
                  extra_texts: list[str] | None = None) -> Path:
    """The encoder folder of a model type: an uncased WordPiece BERT for radgraph and radgraph-xl
    (PubMedBERT, CXR-BERT), a cased byte-level-BPE ModernBERT (built in the oracle venv, so its
    files are what transformers 4 saved) for modern-radgraph-xl."""
    if model_type != "modern-radgraph-xl":
        return build_pubmedbert(out_dir, size=size, seed=seed, extra_texts=extra_texts)
    _oracle_task({"action": "build_modernbert", "out_dir": str(out_dir), "seed": seed, "size": size,
                  "corpus": list(extra_texts or [])})
    return Path(out_dir)


def build_all(out_dir: str | Path, size: str = "tiny", seed: int = 0, extra_texts: list[str] | None = None,
              model_type: str = "radgraph") -> dict[str, Path]:
    """Both parts: ``{"encoder": folder, "archive": <model_type>.tar.gz, "model_cache_dir": folder}``;
    ``model_cache_dir`` is what ``radgraph.RadGraph(model_type=..., model_cache_dir=...)`` takes."""
    out = Path(out_dir)
    folder = "pubmedbert" if model_type == "radgraph" else f"encoder-{model_type}"
    encoder = build_encoder(out / folder, model_type, size=size, seed=seed, extra_texts=extra_texts)
    archive = build_radgraph(out / "rrg", encoder, size=size, seed=seed, model_type=model_type)
    return {"encoder": encoder, "archive": archive, "model_cache_dir": out / "rrg", "model_type": model_type}


def store_in_hub_cache(parts: dict) -> None:
    """Put both under their repo ids in the current HF cache (``HF_HUB_CACHE``)."""
    from rexrank.testing.hubcache import put_files, put_folder

    model_type = parts.get("model_type", "radgraph")
    put_folder(ENCODER_IDS[model_type], parts["encoder"])
    put_files(RRG_ID, {Path(parts["archive"]).name: parts["archive"]})
