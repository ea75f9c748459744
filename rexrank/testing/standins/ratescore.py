"""Random-weight stand-ins for RaTEScore's two models, with the real architectures and files.

* ``Angelakeke/RaTE-NER-Deberta``: a DeBERTa-v3 token classifier (``DebertaV2ForTokenClassification``,
  relative attention with log buckets, as microsoft/deberta-v3-base) over the 11 IOB labels of
  the five RaTE entity types, with a SentencePiece (unigram) tokenizer: ``spm.model`` plus the
  ``tokenizer.json`` / ``tokenizer_config.json`` that ``save_pretrained`` writes.
* ``FremyCompany/BioLORD-2023-C``: an MPNet encoder (``MPNetModel``) with an uncased WordPiece
  tokenizer, as the real sentence-transformers checkpoint.

``size="tiny"`` is for tests (seconds to build, milliseconds to run); ``size="real"`` has the
shapes of deberta-v3-base and mpnet-base, for benchmarks. The tokenizers are trained on a small
built-in radiology corpus (plus any ``corpus`` given), so they split text into realistic pieces.
Weights are random but seeded; the classifier head is scaled so that every label occurs.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Iterable

from rexrank.testing.standins.vocab import wordpiece_pieces

NER_REPO = "Angelakeke/RaTE-NER-Deberta"
BIOLORD_REPO = "FremyCompany/BioLORD-2023-C"
ENTITY_TYPES = ("ABNORMALITY", "NON-ABNORMALITY", "DISEASE", "NON-DISEASE", "ANATOMY")
# The order of the real config is not known here; the scorer reads config.id2label, so any order works.
LABELS = ("O",) + tuple(f"{p}-{t}" for t in ENTITY_TYPES for p in ("B", "I"))

_CORPUS = """The heart size is normal. The mediastinal and hilar contours are within normal limits.
No pleural effusion or pneumothorax. There is no focal consolidation. Mild degenerative changes of the thoracic spine.
Stable cardiomegaly with mild pulmonary vascular congestion. Left lower lobe atelectasis versus pneumonia.
Right-sided PICC line terminates in the lower SVC. Calcified granuloma in the right upper lobe, 1.5 cm.
Lungs are clear bilaterally. No acute cardiopulmonary abnormality. Interval improvement of bibasilar opacities.
Small left pleural effusion is unchanged. Hyperinflated lungs consistent with COPD. Osseous structures intact.
Endotracheal tube tip 4 cm above the carina. Nasogastric tube courses below the diaphragm. T12 compression fracture.
Findings: None. Impression: Normal chest x-ray. Comparison: 03/12/2010. Indication: cough, fever; r/o pneumonia?
""".split("\n")


def _corpus(extra: Iterable[str] = ()) -> list[str]:
    return [line for line in (*_CORPUS, *extra) if line.strip()]


def _train_sentencepiece(texts: list[str], vocab_size: int) -> bytes:
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_writer=model, vocab_size=vocab_size, model_type="unigram",
        character_coverage=1.0, hard_vocab_limit=False, minloglevel=2,
        pad_id=0, bos_id=1, eos_id=2, unk_id=3, pad_piece="[PAD]", bos_piece="[CLS]", eos_piece="[SEP]",
        unk_piece="[UNK]")
    return model.getvalue()


def _deberta_tokenizer(spm_bytes: bytes, folder: Path):
    import sentencepiece as spm
    from transformers import DebertaV2Tokenizer

    processor = spm.SentencePieceProcessor(model_proto=spm_bytes)
    vocab = [(processor.id_to_piece(i), processor.get_score(i)) for i in range(processor.get_piece_size())]
    vocab.append(("[MASK]", 0.0))
    (folder / "spm.model").write_bytes(spm_bytes)
    return DebertaV2Tokenizer(vocab=vocab, unk_id=3)


def build_ner(out_dir: str | Path, size: str = "tiny", seed: int = 0, corpus: Iterable[str] = ()) -> Path:
    """Save a RaTE-NER-shaped DeBERTa-v3 token classifier with its tokenizer into ``out_dir``."""
    import torch
    from transformers import DebertaV2Config, DebertaV2ForTokenClassification

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    texts = _corpus(corpus)
    tokenizer = _deberta_tokenizer(_train_sentencepiece(texts, 600 if size == "tiny" else 3000), out)
    shapes = (dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
              if size == "tiny" else
              dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072))
    config = DebertaV2Config(
        vocab_size=len(tokenizer) if size == "tiny" else 128100, max_position_embeddings=512,
        type_vocab_size=0, relative_attention=True, position_buckets=256, norm_rel_ebd="layer_norm",
        share_att_key=True, pos_att_type=["p2c", "c2p"], position_biased_input=False, max_relative_positions=-1,
        layer_norm_eps=1e-7, pad_token_id=0, hidden_act="gelu",
        id2label=dict(enumerate(LABELS)), label2id={label: i for i, label in enumerate(LABELS)}, **shapes)
    torch.manual_seed(seed)
    model = DebertaV2ForTokenClassification(config).eval()
    with torch.no_grad():  # large enough logits that labels vary from token to token
        model.classifier.weight.normal_(0.0, 1.0)
        model.classifier.bias.uniform_(-0.5, 0.5)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def _wordpiece_vocab(texts: list[str], size: int) -> list[str]:
    special = ["<s>", "<pad>", "</s>", "[UNK]"]
    return special + wordpiece_pieces(texts, size - len(special) - 1) + ["<mask>"]


def build_biolord(out_dir: str | Path, size: str = "tiny", seed: int = 0, corpus: Iterable[str] = ()) -> Path:
    """Save a BioLORD-2023-C-shaped MPNet encoder with an uncased WordPiece tokenizer into ``out_dir``."""
    import torch
    from transformers import MPNetConfig, MPNetModel, MPNetTokenizer

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    vocab = _wordpiece_vocab(_corpus(corpus), 400 if size == "tiny" else 5000)
    tokenizer = MPNetTokenizer(vocab={piece: i for i, piece in enumerate(vocab)})
    shapes = (dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
              if size == "tiny" else
              dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072))
    config = MPNetConfig(vocab_size=len(vocab) if size == "tiny" else 30527, max_position_embeddings=514,
                         relative_attention_num_buckets=32, layer_norm_eps=1e-5, pad_token_id=1,
                         bos_token_id=0, eos_token_id=2, **shapes)
    torch.manual_seed(seed + 1)
    model = MPNetModel(config, add_pooling_layer=True).eval()
    with torch.no_grad():  # default init gives [CLS] vectors with cosines of 0.9999 to one another: spread
        # them (sharp attention, unit-variance layers) so that best matches depend on the words, not on noise
        # (sharper attention in the 2-layer tiny model; in 12 layers it would amplify float noise 40-fold)
        sharpness = 3.0 if size == "tiny" else 1.0
        model.embeddings.word_embeddings.weight.normal_(0.0, 1.0)
        for name, param in model.encoder.named_parameters():
            if param.dim() == 2:
                param.normal_(0.0, (sharpness if name.endswith((".q.weight", ".k.weight")) else 1.0) / param.shape[1] ** 0.5)
            elif name.endswith(".bias") and "LayerNorm" not in name:
                param.zero_()
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
