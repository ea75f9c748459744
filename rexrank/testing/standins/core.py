"""Random-weight stand-ins for the models of BERTScore, SembScore and CheXbert.

Real architectures and file layouts, random weights:

* ``build_distilroberta``: what ``distilbert/distilroberta-base`` holds (``config.json``,
  ``vocab.json``, ``merges.txt``, ``model.safetensors`` of a ``RobertaForMaskedLM``, so the
  weights carry the real ``roberta.`` / ``lm_head.`` prefixes), with a byte-level BPE
  vocabulary trained on chest X-ray sentences (every byte is in the alphabet, so any text
  encodes without ``<unk>``).
* ``build_bert_base_uncased``: ``google-bert/bert-base-uncased``'s ``config.json``,
  ``vocab.txt`` (a WordPiece vocabulary built from the same sentences, the real special-token ids 0/100-103)
  and ``tokenizer_config.json``.
* ``build_chexbert_checkpoint``: ``chexbert.pth`` as in ``StanfordAIMI/RRG_scorers``: a dict
  with ``model_state_dict`` whose keys are ``module.bert.*`` (a BertModel *with* pooler, as the
  CheXbert training code saved it) and ``module.linear_heads.{0..13}.*`` (13 heads of 4 classes,
  one of 2).

``size="tiny"`` is for tests (a few hundred kB); ``size="real"`` has the real configs
(hidden 768, 12 heads; 6 layers for distilroberta, 12 for BERT) for benchmarks.

Watch out (transformers 5): tokenizer constructors take ``vocab=``/``merges=``; we never
construct tokenizers here, we write the files the Hub repos hold.
"""

from __future__ import annotations

import json
from pathlib import Path

from rexrank.testing.standins.vocab import wordpiece_pieces

SENTENCES = [
    "The heart size is normal. The mediastinal contours are within normal limits.",
    "No focal consolidation, pleural effusion or pneumothorax. Lungs are clear bilaterally.",
    "Mild cardiomegaly with small bilateral pleural effusions and pulmonary edema.",
    "Left lower lobe atelectasis versus pneumonia; right basilar opacity is unchanged.",
    "Endotracheal tube terminates 3 cm above the carina. Nasogastric tube in the stomach.",
    "There is a displaced fracture of the right sixth rib. No acute bony abnormality.",
    "Enlarged cardiomediastinal silhouette. Lung lesion in the right upper lobe, 2.5 cm.",
    "Degenerative changes of the thoracic spine. Calcified granuloma. XXXX opacities.",
    "Interval improvement of the previously seen left-sided effusion; stable support devices.",
    "Findings: none. Impression: no acute cardiopulmonary process (see prior 03/12/2010).",
]

ROBERTA_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
BERT_SPECIALS = {0: "[PAD]", 100: "[UNK]", 101: "[CLS]", 102: "[SEP]", 103: "[MASK]"}


def _corpus(extra_texts: list[str] | None) -> list[str]:
    return SENTENCES * 3 + list(extra_texts or [])


def _distilroberta_config(size: str, vocab_size: int) -> dict:
    dims = (dict(hidden_size=768, num_attention_heads=12, intermediate_size=3072, vocab_size=50265)
            if size == "real" else dict(hidden_size=32, num_attention_heads=2, intermediate_size=64,
                                        vocab_size=vocab_size))
    return dict(architectures=["RobertaForMaskedLM"], model_type="roberta", num_hidden_layers=6,
                max_position_embeddings=514, type_vocab_size=1, pad_token_id=1, bos_token_id=0, eos_token_id=2,
                layer_norm_eps=1e-5, hidden_act="gelu", hidden_dropout_prob=0.1,
                attention_probs_dropout_prob=0.1, initializer_range=0.02, **dims)


def _bert_config(size: str, vocab_size: int) -> dict:
    dims = (dict(hidden_size=768, num_attention_heads=12, intermediate_size=3072, num_hidden_layers=12,
                 vocab_size=30522)
            if size == "real" else dict(hidden_size=32, num_attention_heads=2, intermediate_size=64,
                                        num_hidden_layers=2, vocab_size=vocab_size))
    return dict(architectures=["BertForMaskedLM"], model_type="bert", max_position_embeddings=512,
                type_vocab_size=2, pad_token_id=0, layer_norm_eps=1e-12, hidden_act="gelu",
                hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, initializer_range=0.02, **dims)


def build_distilroberta(out_dir: str | Path, size: str = "tiny", seed: int = 0,
                        extra_texts: list[str] | None = None) -> Path:
    """Write a distilroberta-base-shaped checkpoint with random weights into ``out_dir``."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaConfig, RobertaForMaskedLM

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(_corpus(extra_texts), vocab_size=600, min_frequency=1, special_tokens=ROBERTA_SPECIALS,
                            show_progress=False)
    bpe.save_model(str(out))  # vocab.json + merges.txt, the formats of the real repo
    vocab_size = len(json.loads((out / "vocab.json").read_text()))
    torch.manual_seed(seed)
    model = RobertaForMaskedLM(RobertaConfig(**_distilroberta_config(size, vocab_size))).eval()
    if size == "tiny":
        _anisotropic(model.roberta.encoder.layer, seed)
    model.save_pretrained(out)
    return out


def _anisotropic(layers, seed: int) -> None:
    """Random LayerNorm offsets, so token vectors share a direction as in trained models.

    Pure random tiny weights give cosines centred on 0; trained encoders give mostly positive
    ones. A mix keeps both the usual and the negative-cosine paths of the metrics exercised.
    """
    import torch

    gen = torch.Generator().manual_seed(seed + 1)
    for layer in layers:
        ln = layer.output.LayerNorm
        ln.bias.data = torch.randn(ln.bias.shape, generator=gen) * 0.7
        ln.weight.data = 1 + torch.randn(ln.weight.shape, generator=gen) * 0.3


def build_bert_base_uncased(out_dir: str | Path, size: str = "tiny", seed: int = 0,
                            extra_texts: list[str] | None = None) -> Path:
    """Write bert-base-uncased's config, WordPiece vocabulary and tokenizer config (no weights:
    CheXbert only takes the architecture and tokenizer from it)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokens = [BERT_SPECIALS.get(i, f"[unused{i}]") for i in range(104)] + wordpiece_pieces(_corpus(extra_texts), 400)
    (out / "vocab.txt").write_text("\n".join(tokens) + "\n", encoding="utf-8")
    (out / "config.json").write_text(json.dumps(_bert_config(size, len(tokens)), indent=2))
    (out / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True, "model_max_length": 512}))
    return out


def build_chexbert_checkpoint(out_file: str | Path, bert_dir: str | Path, seed: int = 0) -> Path:
    """Write ``chexbert.pth`` for the BERT config in ``bert_dir``, in the real checkpoint layout."""
    import torch
    from transformers import BertConfig, BertModel

    config = BertConfig.from_pretrained(str(bert_dir))
    torch.manual_seed(seed)
    bert = BertModel(config, add_pooling_layer=True)
    if config.hidden_size < 768:  # tiny: wider random weights, so different reports get different [CLS] states
        gen = torch.Generator().manual_seed(seed + 2)
        for name, param in bert.named_parameters():
            if param.dim() == 2:
                param.data = torch.randn(param.shape, generator=gen) * 0.25
    heads = [torch.nn.Linear(config.hidden_size, 4) for _ in range(13)] + [torch.nn.Linear(config.hidden_size, 2)]
    state = {f"module.bert.{k}": v for k, v in bert.state_dict().items()}
    if config.hidden_size < 768:  # tiny: bigger head weights, so all four classes occur
        for head in heads:
            head.weight.data *= 8.0
    for i, head in enumerate(heads):
        state[f"module.linear_heads.{i}.weight"] = head.weight.detach().clone()
        state[f"module.linear_heads.{i}.bias"] = head.bias.detach().clone()
    out = Path(out_file)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"epoch": 0, "model_state_dict": state}, out)
    return out


def build_chexbert(out_dir: str | Path, size: str = "tiny", seed: int = 0) -> dict[str, Path]:
    """Both parts CheXbert needs: ``{"bert": folder, "chexbert": chexbert.pth}``."""
    out = Path(out_dir)
    bert = build_bert_base_uncased(out / "bert-base-uncased", size=size, seed=seed)
    return {"bert": bert, "chexbert": build_chexbert_checkpoint(out / "chexbert" / "chexbert.pth", bert, seed)}


def build_distilbert_base_uncased(out_dir: str | Path, size: str = "tiny", seed: int = 0,
                                  extra_texts: list[str] | None = None) -> Path:
    """``distilbert-base-uncased`` (a ``DistilBertModel``, 6 layers, the uncased WordPiece vocabulary of
    :func:`build_bert_base_uncased`): RadEval's default BERTScore model, for the peer benchmark."""
    import torch
    from transformers import DistilBertConfig, DistilBertModel

    out = build_bert_base_uncased(out_dir, size=size, seed=seed, extra_texts=extra_texts)
    (out / "config.json").unlink()
    n_vocab = len((out / "vocab.txt").read_text(encoding="utf-8").splitlines())
    dims = dict(dim=768, hidden_dim=3072, n_heads=12, vocab_size=30522) if size == "real" else \
        dict(dim=32, hidden_dim=64, n_heads=2, vocab_size=n_vocab)
    torch.manual_seed(seed)
    model = DistilBertModel(DistilBertConfig(n_layers=6, max_position_embeddings=512, pad_token_id=0, **dims)).eval()
    if size == "tiny":
        _anisotropic_distilbert(model, seed)
    model.save_pretrained(out)
    return out


def _anisotropic_distilbert(model, seed: int) -> None:
    """As :func:`_anisotropic`, for DistilBERT's layer norms."""
    import torch

    gen = torch.Generator().manual_seed(seed + 1)
    for layer in model.transformer.layer:
        ln = layer.output_layer_norm
        ln.bias.data = torch.randn(ln.bias.shape, generator=gen) * 0.7
        ln.weight.data = 1 + torch.randn(ln.weight.shape, generator=gen) * 0.3
