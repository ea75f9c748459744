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
* ``build_radgraph_native``: the same archive (same config, vocabulary files, state-dict keys,
  shapes and dtypes, including the coreference and event weights RadGraph never uses) written
  from our own :class:`~rexrank.metrics.scorers.radgraph.model.RadGraphModel`, without the
  official package: for machines without the oracle venv (the device check).
  ``tests/test_radgraph_standin.py`` proves the layout equal and the official package's
  annotations on it equal to ours.

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


PUBMEDBERT_ID = "microsoft/BiomedNLP-PubMedBERT-base-uncased-abstract-fulltext"
RRG_ID = "StanfordAIMI/RRG_scorers"
# The encoder each stand-in archive's config.json names. radgraph-xl's is CXR-BERT (RadEval's docs;
# a public deployment pins this repo for radgraph-xl.tar.gz); modern-radgraph-xl's real id could not
# be established without Hub access, so the stand-in names a ModernBERT id of its own: the scorer
# reads whichever id the archive names, so nothing depends on this one.
ENCODER_IDS = {"radgraph": PUBMEDBERT_ID, "radgraph-xl": "microsoft/BiomedVLP-CXR-BERT-general",
               "modern-radgraph-xl": "answerdotai/ModernBERT-base"}
# (scale, bias shift per label) of the final NER (ANAT-DP, OBS-DP, OBS-U, OBS-DA) and relation
# (modify, located_at, suggestive_of) layers, and the mention pruner's scale, per size. The builds
# are deterministic (seeded before any weight is drawn); the shifts (tiny, and real without
# extra_texts) are solved on the NER and relation logits of IU-Xray test findings 200-499 for an
# even share per label, about one entity per word (one span in seven) and few enough relations
# that a 600-word report stays cheap for the official code (its postprocessing is quadratic in the
# number of raw relations). Every label then occurs dozens of times on the parity texts, so float
# noise between CPUs cannot drop one (a label that occurred once or twice did, on another machine).
SCALING = {"tiny": (30.0, [-3.48, -4.45, -0.14, -1.13], [0.07, -1.66, -10.31], 0.1),
           "real": (30.0, [-2.86, -5.96, -0.03, -3.65], [-8.77, -3.53, -5.72], 0.1)}
# The same for the XL models' 11 NER labels (in the oracle task's XL_NER_LABELS order), about one
# entity in twelve spans.
XL_SCALING = {
    "radgraph-xl": {"tiny": (30.0, [-4.5, -4.58, -0.25, -3.74, -5.47, -0.18, -4.59, -7.53, -4.08, -2.78, 0.29],
                             [-6.66, -2.52, -2.63], 0.1)},
    "modern-radgraph-xl": {"tiny": (30.0, [-4.43, -1.56, -0.67, -6.4, -2.03, -4.07, -2.56, -2.77, -4.5, 0.45, -7.75],
                                    [-4.1, -4.13, -7.22], 0.1)},
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
    from rexrank.metrics.oracle.client import TASKS, oracle_python

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
    return _archive(model_dir, out / f"{model_type}.tar.gz")


def _archive(model_dir: Path, archive: Path, compresslevel: int = 9) -> Path:
    """``<model_type>.tar.gz`` with the three entries at the top level, as in ``StanfordAIMI/RRG_scorers``."""
    with tarfile.open(archive, "w:gz", compresslevel=compresslevel) as tar:
        for name in ("config.json", "vocabulary", "weights.th"):
            tar.add(model_dir / name, arcname=name)
    return archive


# radgraph 0.1.18's DyGIE settings that the official builder (oracle task) uses too.
FEATURE_SIZE, MAX_SPAN_WIDTH, HIDDEN_DIMS, DISTANCE_BUCKETS = 20, 8, 150, 10
NER_LABELS = ("ANAT-DP", "OBS-DP", "OBS-U", "OBS-DA")
RELATION_LABELS = ("modify", "located_at", "suggestive_of")


def native_config(encoder_name: str) -> dict:
    """The ``config.json`` the official builder writes (``oracle/tasks/radgraph.py``), for ``encoder_name``."""
    bert = {"type": "pretrained_transformer_mismatched", "model_name": encoder_name, "max_length": 512}
    return {
        "dataset_reader": {"type": "dygie", "max_span_width": MAX_SPAN_WIDTH, "token_indexers": {"bert": dict(bert)}},
        "model": {
            "type": "dygie", "embedder": {"token_embedders": {"bert": dict(bert)}}, "feature_size": FEATURE_SIZE,
            "max_span_width": MAX_SPAN_WIDTH, "target_task": "relation",
            "feedforward_params": {"num_layers": 2, "hidden_dims": HIDDEN_DIMS, "dropout": 0.4},
            "loss_weights": {"ner": 1.0, "relation": 1.0, "coref": 0.0, "events": 0.0},
            "initializer": {"regexes": [["_span_width_embedding.weight", {"type": "xavier_normal"}]]},
            "module_initializer": {"regexes": [[".*weight", {"type": "xavier_normal"}],
                                               [".*weight_matrix", {"type": "xavier_normal"}]]},
            "modules": {
                "ner": {}, "relation": {"spans_per_word": 0.5},
                "coref": {"spans_per_word": 0.3, "max_antecedents": 100, "coref_prop": 0},
                "events": {"trigger_spans_per_word": 0.3, "argument_spans_per_word": 0.8,
                           "loss_weights": {"trigger": 1.0, "arguments": 2.0}},
            },
        },
    }


def _write_vocabulary(folder: Path) -> dict[str, list[str]]:
    """allennlp ``Vocabulary.save_to_files``: one token per line; both namespaces unpadded (``*labels``)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".lock").write_text("")
    (folder / "non_padded_namespaces.txt").write_text("*tags\n*labels\n")
    labels = {"radgraph__ner_labels": ["", *NER_LABELS], "radgraph__relation_labels": list(RELATION_LABELS)}
    for namespace, tokens in labels.items():
        (folder / f"{namespace}.txt").write_text("".join(f"{t}\n" for t in tokens))
    return labels


def _unused_weights(span_dim: int, generator) -> dict:
    """DyGIE's coreference and event weights: in every ``weights.th``, never used by RadGraph."""
    import torch

    def linear(prefix: str, n_in: int, n_out: int) -> dict:
        bound = n_in ** -0.5
        return {f"{prefix}.weight": (torch.rand(n_out, n_in, generator=generator) * 2 - 1) * bound,
                f"{prefix}.bias": (torch.rand(n_out, generator=generator) * 2 - 1) * bound}

    def feedforward(prefix: str, n_in: int) -> dict:
        return {**linear(f"{prefix}._linear_layers.0", n_in, HIDDEN_DIMS),
                **linear(f"{prefix}._linear_layers.1", HIDDEN_DIMS, HIDDEN_DIMS)}

    return {
        "_coref._distance_embedding.weight": torch.randn(DISTANCE_BUCKETS, FEATURE_SIZE, generator=generator),
        **feedforward("_coref._antecedent_feedforward._module", 3 * span_dim + FEATURE_SIZE),
        **feedforward("_coref._mention_pruner._scorer.0._module", span_dim),
        **linear("_coref._mention_pruner._scorer.1._module", HIDDEN_DIMS, 1),
        **linear("_coref._antecedent_scorer._module", HIDDEN_DIMS, 1),
        **{k: v for k, v in linear("_coref._f_network._linear_layers.0", 2 * span_dim, span_dim).items()},
        "_events._distance_embedding.weight": torch.randn(DISTANCE_BUCKETS, FEATURE_SIZE, generator=generator),
    }


def build_radgraph_native(out_dir: str | Path, encoder_dir: str | Path, size: str = "tiny", seed: int = 0,
                          compresslevel: int = 1) -> Path:
    """``out_dir/radgraph.tar.gz`` (and ``out_dir/radgraph/``) from our model, no official package needed.

    Same files, keys, shapes and scaling as :func:`build_radgraph`; the random values differ
    (another initialisation order). ``compresslevel`` 1 by default: random weights do not
    compress, and level 9 takes a minute on BERT-base sizes."""
    import torch
    from transformers import AutoModel

    from rexrank.metrics.scorers.radgraph.model import RadGraphModel

    out = Path(out_dir)
    model_dir = out / "radgraph"
    labels = _write_vocabulary(model_dir / "vocabulary")
    config = native_config(PUBMEDBERT_ID)
    (model_dir / "config.json").write_text(json.dumps(config, indent=2))
    torch.manual_seed(seed)
    encoder = AutoModel.from_pretrained(str(encoder_dir))
    model = RadGraphModel(config, labels, encoder)
    scale, ner_bias, rel_bias, mention_scale = SCALING[size]
    with torch.no_grad():
        ner_out = model._ner._ner_scorers["radgraph__ner_labels"][1]._module
        rel_out = model._relation._relation_scorers["radgraph__relation_labels"]
        mention_out = model._relation._mention_pruners["radgraph__relation_labels"]._scorer[1]._module
        for layer, bias in ((ner_out, ner_bias), (rel_out, rel_bias)):
            layer.weight.mul_(scale)
            layer.bias.mul_(scale).add_(torch.as_tensor(bias, dtype=layer.bias.dtype))
        mention_out.weight.mul_(mention_scale)
        mention_out.bias.mul_(mention_scale)
    span_dim = 2 * int(encoder.config.hidden_size) + FEATURE_SIZE
    state = {**model.state_dict(), **_unused_weights(span_dim, torch.Generator().manual_seed(seed + 1))}
    torch.save(state, model_dir / "weights.th")
    return _archive(model_dir, out / "radgraph.tar.gz", compresslevel)


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
              model_type: str = "radgraph", native: bool = False) -> dict[str, Path]:
    """Both parts: ``{"encoder": folder, "archive": <model_type>.tar.gz, "model_cache_dir": folder}``;
    ``model_cache_dir`` is what ``radgraph.RadGraph(model_type=..., model_cache_dir=...)`` takes.
    ``native``: write the original RadGraph's archive without the official package
    (:func:`build_radgraph_native`)."""
    out = Path(out_dir)
    folder = "pubmedbert" if model_type == "radgraph" else f"encoder-{model_type}"
    encoder = build_encoder(out / folder, model_type, size=size, seed=seed, extra_texts=extra_texts)
    if native:
        if model_type != "radgraph":
            raise ValueError(f"native stand-ins exist for the original RadGraph only, not {model_type}")
        archive = build_radgraph_native(out / "rrg", encoder, size=size, seed=seed)
    else:
        archive = build_radgraph(out / "rrg", encoder, size=size, seed=seed, model_type=model_type)
    return {"encoder": encoder, "archive": archive, "model_cache_dir": out / "rrg", "model_type": model_type}


def store_in_hub_cache(parts: dict) -> None:
    """Put both under their repo ids in the current HF cache (``HF_HUB_CACHE``)."""
    from rexrank.testing.hubcache import put_files, put_folder

    model_type = parts.get("model_type", "radgraph")
    put_folder(ENCODER_IDS[model_type], parts["encoder"])
    put_files(RRG_ID, {Path(parts["archive"]).name: parts["archive"]})
