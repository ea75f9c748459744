"""SembScore and CheXbert labels from one CheXbert encoder pass (DESIGN §7.4).

The CheXbert labeler is a ``bert-base-uncased``-shaped BertModel plus 14 linear heads on the
last-layer ``[CLS]`` state (13 conditions x {blank, positive, negative, uncertain}, and
"No Finding" x {no, yes}), weights ``chexbert.pth`` (``model_state_dict``, ``module.`` prefix;
the copy in ``StanfordAIMI/RRG_scorers``). One forward pass per distinct text gives both:

* SembScore (CXR-Report-Metric ``encode.py`` + ``add_semb_col``): cosine of the reference's
  and the prediction's ``[CLS]`` states (0 where a norm is 0);
* the 14 labels, decoded as f1chexbert 0.0.2 ``get_label(mode="rrg")`` does (positive and
  uncertain -> 1, blank and negative -> 0), and CheXbert F1 as f1chexbert's ``forward``
  reports it (sklearn ``classification_report`` micro/macro over 14 labels and over the 5
  common ones; the per-study column is the example-based F1 whose mean is the report's
  "samples avg").

Text: ``strip``, newline -> space, runs of whitespace -> one space, ``strip`` (f1chexbert
``tokenize``); WordPiece; ``[CLS] ... [SEP]``; more than 512 ids -> first 511 + ``[SEP]``; an
empty text is ``[CLS][SEP]``. Results are cached per normalised text and model in the process,
so identical texts and a test set's references are encoded once however many systems are scored.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from typing import Any, Sequence

from rexrank.metrics.runtime import models
from rexrank.metrics.runtime.batching import batch_defaults, length_sorted_batches, pad_ids, progress
from rexrank.metrics.scorers.base import check_pairs
from rexrank.metrics.registry import BERT_BASE_UNCASED, RRG_SCORERS_CHEXBERT
from rexrank.metrics.scorers.base import ScoreResult
from rexrank.errors import CheckpointMismatchError, ModelUnavailableError

logger = logging.getLogger(__name__)

CONDITIONS = ("Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema",
              "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other",
              "Fracture", "Support Devices", "No Finding")
COMMON_FIVE = ("Cardiomegaly", "Edema", "Consolidation", "Atelectasis", "Pleural Effusion")
FIVE_INDEX = tuple(CONDITIONS.index(c) for c in COMMON_FIVE)  # in CONDITIONS order, as np.isin gives them
MAX_IDS = 512
CACHE_LIMIT = 100_000
# head output class -> label (f1chexbert get_label): mode "rrg" and mode "classification"
RRG = {0: 0, 1: 1, 2: 0, 3: 1}
CLASSIFICATION = {0: None, 1: 1, 2: 0, 3: -1}


def normalise(text: str) -> str:
    """f1chexbert ``tokenize``: strip, newlines to spaces, whitespace runs to one space, strip."""
    return re.sub(r"\s+", " ", text.strip().replace("\n", " ")).strip()


class _CheXbert:
    """Tokenizer + BertModel + 14 heads, with a per-text cache of ([CLS] state, head classes)."""

    def __init__(self, bert: models.ResolvedModel, checkpoint: models.ResolvedModel, device: str, dtype: Any = None):
        import torch
        from transformers import BertConfig, BertModel, BertTokenizer

        try:
            self.tokenizer = BertTokenizer.from_pretrained(str(bert.path))
            config = BertConfig.from_pretrained(str(bert.path))
        except (OSError, ValueError) as err:
            raise ModelUnavailableError(f"bert-base-uncased files for CheXbert unreadable in {bert.path}: {err}") from err
        module = torch.nn.Module()
        module.bert = BertModel(config, add_pooling_layer=False)
        module.linear_heads = torch.nn.ModuleList(
            [torch.nn.Linear(config.hidden_size, 4) for _ in range(13)] + [torch.nn.Linear(config.hidden_size, 2)])
        state = {k.removeprefix("module."): v for k, v in _read_checkpoint(checkpoint).items()}
        # The pooler and a stored position_ids buffer are in the file but not in CheXbert's computation.
        models.check_state_dict(module, state, f"CheXbert checkpoint {checkpoint.ref}",
                                ignore_unexpected=("bert.pooler.", "bert.embeddings.position_ids"))
        self.model = module.eval().to(device=device, dtype=dtype)
        self.device = device
        self.cache: OrderedDict[str, tuple[Any, tuple[int, ...]]] = OrderedDict()

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        tok = self.tokenizer
        pieces = tok(texts, add_special_tokens=False)["input_ids"] if texts else []
        out = []
        for ids in pieces:
            if not ids:
                out.append([tok.cls_token_id, tok.sep_token_id])
                continue
            full = [tok.cls_token_id, *ids, tok.sep_token_id]
            out.append(full if len(full) <= MAX_IDS else full[:MAX_IDS - 1] + [tok.sep_token_id])
        return out

    def encode(self, texts: list[str], batch_size: int, show_progress: bool,
               max_tokens: int | None = None) -> list[tuple[Any, tuple[int, ...]]]:
        """([CLS] state, 14 head classes) per normalised text, each distinct text computed once."""
        import torch

        todo = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if todo:
            ids = self.token_ids(todo)
            batches = list(length_sorted_batches([len(i) for i in ids], batch_size, max_tokens, min_fill=0.5))
            with torch.inference_mode():
                for batch in progress(batches, len(batches), "CheXbert", show_progress):
                    input_ids, mask = pad_ids([ids[i] for i in batch], self.tokenizer.pad_token_id)
                    hidden = self.model.bert(input_ids=input_ids.to(self.device),
                                             attention_mask=mask.to(self.device)).last_hidden_state
                    cls = hidden[:, 0, :]
                    classes = torch.stack([head(cls).argmax(dim=1) for head in self.model.linear_heads], dim=1)
                    cls, classes = cls.float().cpu(), classes.cpu().tolist()
                    for row, i in enumerate(batch):
                        self.cache[todo[i]] = (cls[row].clone(), tuple(classes[row]))
            while len(self.cache) > CACHE_LIMIT:
                self.cache.popitem(last=False)
        return [self.cache[t] for t in texts]


def _read_checkpoint(checkpoint: models.ResolvedModel) -> dict[str, Any]:
    import torch

    path = checkpoint.path / "chexbert.pth" if checkpoint.path.is_dir() else checkpoint.path
    if not path.is_file():
        raise ModelUnavailableError(f"chexbert.pth not found in {checkpoint.path} ({checkpoint.ref})")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointMismatchError(f"{path} ({checkpoint.ref}) is not a readable CheXbert checkpoint "
                                      f"({type(err).__name__}: {err}); delete it from the cache and download again") from err
    if not isinstance(blob, dict) or "model_state_dict" not in blob:
        raise CheckpointMismatchError(f"{path} ({checkpoint.ref}) has no 'model_state_dict': not a CheXbert checkpoint")
    return blob["model_state_dict"]


class _CheXbertScorerBase:
    """Shared loading and the one encoder pass of SembScore and CheXbert."""

    name = ""

    def __init__(self, device: str | None = None, batch_size: int | None = None, model: str | None = None,
                 tokenizer_model: str | None = None, progress: bool = False, half: bool = False,
                 max_tokens: int | None = None, **_: Any):
        self.device = models.pick_device(device)
        self.dtype = models.default_dtype(self.device, half)  # fp32 unless half=True on CUDA
        self.batch_size, self.max_tokens = batch_defaults(self.device, batch_size, max_tokens)
        self.checkpoint_ref = models.parse_model_spec(model, RRG_SCORERS_CHEXBERT) if model else RRG_SCORERS_CHEXBERT
        self.bert_ref = (models.parse_model_spec(tokenizer_model, BERT_BASE_UNCASED) if tokenizer_model
                         else BERT_BASE_UNCASED)
        self.show_progress = progress
        self._labeler: _CheXbert | None = None
        self._resolved: list[models.ResolvedModel] = []

    def _load(self) -> _CheXbert:
        if self._labeler is None:
            checkpoint, bert = models.resolve(self.checkpoint_ref), models.resolve(self.bert_ref)
            self._resolved = [checkpoint, bert]
            self._labeler = models.load_once(
                ("chexbert", str(checkpoint.path), checkpoint.revision, str(bert.path), bert.revision, self.device,
                 str(self.dtype)),
                lambda: _CheXbert(bert, checkpoint, self.device, self.dtype))
        return self._labeler

    def _encode_pairs(self, predictions: Sequence[str], references: Sequence[str]):
        predictions, references = check_pairs(predictions, references, self.name)
        labeler = self._load()
        refs = labeler.encode([normalise(r) for r in references], self.batch_size, self.show_progress, self.max_tokens)
        preds = labeler.encode([normalise(p) for p in predictions], self.batch_size, self.show_progress, self.max_tokens)
        return preds, refs

    def _provenance(self) -> dict[str, Any]:
        return {"models": [r.provenance() for r in self._resolved], "device": self.device,
                "dtype": str(self.dtype).removeprefix("torch."),
                "text": "strip, newline->space, whitespace runs->one space; [CLS]...[SEP], 512 ids max"}


def semb_scores(preds: list[tuple[Any, Any]], refs: list[tuple[Any, Any]]) -> list[float]:
    """Cosine of [CLS] states per pair (CXR-Report-Metric ``add_semb_col``); 0 where a norm is 0."""
    import torch

    if not preds:
        return []
    p = torch.stack([e for e, _ in preds]).double()
    r = torch.stack([e for e, _ in refs]).double()
    norms = p.norm(dim=1) * r.norm(dim=1)
    cos = (p * r).sum(dim=1) / norms
    return torch.where(norms > 0, cos, torch.zeros_like(cos)).tolist()


class SembScoreScorer(_CheXbertScorerBase):
    """``SembScoreScorer(device=None, batch_size=None, model=None)(preds, refs)`` -> per-study SembScore
    (``batch_size`` / ``max_tokens`` default by device; ``half``: fp16/bf16 on CUDA, speed only)."""

    name = "semb_score"

    def __call__(self, predictions: Sequence[str], references: Sequence[str]) -> ScoreResult:
        preds, refs = self._encode_pairs(predictions, references)
        return ScoreResult(self.name, {self.name: semb_scores(preds, refs)},
                           provenance={**self._provenance(),
                                       "official": "CXR-Report-Metric CheXbert encode.py + add_semb_col"})


def rrg_labels(classes: tuple[int, ...]) -> list[int]:
    """f1chexbert ``get_label(mode="rrg")``: 1 for positive or uncertain, else 0."""
    return [RRG[c] for c in classes]


def _f1(tp: Any, fp: Any, fn: Any) -> Any:
    """F1 = 2TP / (2TP + FP + FN), 0 where the denominator is 0 (sklearn's zero_division='warn')."""
    import numpy as np

    denom = 2 * tp + fp + fn
    return np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)


def chexbert_f1(y_true: Any, y_pred: Any) -> dict[str, Any]:
    """Micro, macro and per-sample F1 of 0/1 label matrices, as sklearn's classification_report."""
    import numpy as np

    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    tp, fp, fn = (y_true & y_pred), (~y_true & 1) & y_pred, y_true & (~y_pred & 1)
    per_label = _f1(tp.sum(0), fp.sum(0), fn.sum(0))
    return {"micro": float(_f1(tp.sum(), fp.sum(), fn.sum())), "macro": float(per_label.mean()),
            "per_label": per_label.tolist(), "per_sample": _f1(tp.sum(1), fp.sum(1), fn.sum(1)).tolist()}


class CheXbertScorer(_CheXbertScorerBase):
    """``CheXbertScorer(...)(preds, refs)``: the 14 CheXbert labels per study and CheXbert F1.

    Per-study columns: ``chexbert`` (example-based F1 over the 14 labels; its mean is
    f1chexbert's "samples avg") and ``chexbert_5`` (over the 5 common labels). Details per study:
    both sides' labels (``rrg``: 0/1) and the reference's "No Finding". Corpus: micro/macro F1
    over 14 and over 5, and the exact-match accuracy over 5, as f1chexbert reports them.
    """

    name = "chexbert"

    def __call__(self, predictions: Sequence[str], references: Sequence[str]) -> ScoreResult:
        import numpy as np

        preds, refs = self._encode_pairs(predictions, references)
        y_pred = np.array([rrg_labels(c) for _, c in preds], dtype=np.int64).reshape(-1, 14)
        y_true = np.array([rrg_labels(c) for _, c in refs], dtype=np.int64).reshape(-1, 14)
        all14 = chexbert_f1(y_true, y_pred)
        five = chexbert_f1(y_true[:, FIVE_INDEX], y_pred[:, FIVE_INDEX])
        accuracy5 = float((y_true[:, FIVE_INDEX] == y_pred[:, FIVE_INDEX]).all(axis=1).mean()) if len(y_true) else 0.0
        details = [{"prediction_labels": dict(zip(CONDITIONS, map(int, p))),
                    "reference_labels": dict(zip(CONDITIONS, map(int, t))),
                    "prediction_classes": [CLASSIFICATION[c] for c in pc],
                    "reference_classes": [CLASSIFICATION[c] for c in rc],
                    "reference_no_finding": bool(t[13])}
                   for p, t, (_, pc), (_, rc) in zip(y_pred, y_true, preds, refs)]
        corpus = {"chexbert_micro_f1_14": all14["micro"], "chexbert_macro_f1_14": all14["macro"],
                  "chexbert_micro_f1_5": five["micro"], "chexbert_macro_f1_5": five["macro"],
                  "chexbert_accuracy_5": accuracy5}
        return ScoreResult(self.name, {self.name: all14["per_sample"], "chexbert_5": five["per_sample"]},
                           details=details, corpus=corpus,
                           provenance={**self._provenance(), "labels": "f1chexbert get_label(mode='rrg')",
                                       "official": "f1chexbert 0.0.2 F1CheXbert.forward (sklearn classification_report)"})
