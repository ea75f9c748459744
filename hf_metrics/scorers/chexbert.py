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
from dataclasses import dataclass
from typing import Any, Sequence

from rexrank.metrics.runtime import models
from rexrank.metrics.runtime.batching import batch_defaults, length_sorted_batches, pad_ids
from rexrank.metrics.runtime.work import Job, Runner, Stage, Work, run_local
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
    """Tokenizer + BertModel + 14 heads, with a per-text cache of ([CLS] state, head classes).

    The model is built on its first forward pass here (a Ray driver only tokenizes and plans)."""

    def __init__(self, bert: models.ResolvedModel, checkpoint: models.ResolvedModel, device: str, dtype: Any = None):
        from transformers import BertConfig, BertTokenizer

        try:
            self.tokenizer = BertTokenizer.from_pretrained(str(bert.path))
            self.config = BertConfig.from_pretrained(str(bert.path))
        except (OSError, ValueError) as err:
            raise ModelUnavailableError(f"bert-base-uncased files for CheXbert unreadable in {bert.path}: {err}") from err
        self.checkpoint, self.device, self.dtype = checkpoint, device, dtype
        self._model: Any = None
        self.cache: OrderedDict[str, tuple[Any, tuple[int, ...]]] = OrderedDict()

    @property
    def model(self) -> Any:
        if self._model is None:
            import torch
            from transformers import BertModel

            config = self.config
            module = torch.nn.Module()
            with models.skip_weight_init():  # every weight comes from chexbert.pth, checked strictly below
                module.bert = BertModel(config, add_pooling_layer=False)
                module.linear_heads = torch.nn.ModuleList(
                    [torch.nn.Linear(config.hidden_size, 4) for _ in range(13)]
                    + [torch.nn.Linear(config.hidden_size, 2)])
            state = {k.removeprefix("module."): v for k, v in _read_checkpoint(self.checkpoint).items()}
            # The pooler and a stored position_ids buffer are in the file but not in CheXbert's computation.
            models.check_state_dict(module, state, f"CheXbert checkpoint {self.checkpoint.ref}",
                                    ignore_unexpected=("bert.pooler.", "bert.embeddings.position_ids"))
            self._model = module.eval().to(device=self.device, dtype=self.dtype)
        return self._model

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

    def jobs(self, texts: list[str], batch_size: int, max_tokens: int | None = None,
             skip: set[str] = frozenset()) -> list[Job]:
        """Length-sorted batches of the distinct ``texts`` not cached (nor in ``skip``, planned already)."""
        todo = [t for t in dict.fromkeys(texts) if t not in self.cache and t not in skip]
        ids = self.token_ids(todo)
        return [Job(tuple(todo[i] for i in batch), [ids[i] for i in batch])
                for batch in length_sorted_batches([len(i) for i in ids], batch_size, max_tokens, min_fill=0.5)]

    def forward(self, ids: list[list[int]]) -> list[tuple[Any, tuple[int, ...]]]:
        """One padded batch: each text's [CLS] state (float32 array) and 14 head classes."""
        import torch

        model = self.model
        with torch.inference_mode():
            input_ids, mask = pad_ids(ids, self.tokenizer.pad_token_id)
            hidden = model.bert(input_ids=input_ids.to(self.device),
                                attention_mask=mask.to(self.device)).last_hidden_state
            cls = hidden[:, 0, :]
            classes = torch.stack([head(cls).argmax(dim=1) for head in model.linear_heads], dim=1)
            cls, classes = cls.float().cpu(), classes.cpu().tolist()
            return [(cls[row].numpy().copy(), tuple(classes[row])) for row in range(len(ids))]

    def evict(self) -> None:
        while len(self.cache) > CACHE_LIMIT:
            self.cache.popitem(last=False)


@dataclass(frozen=True)
class _CheXbertRunner(Runner):
    """Where the CheXbert forward passes run (this process, or a Ray actor)."""

    checkpoint: models.ResolvedModel
    bert: models.ResolvedModel
    device: str
    dtype: Any

    def key(self) -> tuple:
        return ("chexbert", str(self.checkpoint.path), self.checkpoint.revision, str(self.bert.path),
                self.bert.revision, self.device, str(self.dtype))

    def build(self) -> _CheXbert:
        return _CheXbert(models.locate(self.bert), models.locate(self.checkpoint), self.device, self.dtype)

    def run(self, labeler: _CheXbert, job: Job) -> list[Any]:
        return labeler.forward(list(job.payload))


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
            self._resolved = [models.resolve(self.checkpoint_ref), models.resolve(self.bert_ref)]
            self._labeler = self._runner().load()
        return self._labeler

    def _runner(self) -> _CheXbertRunner:
        checkpoint, bert = self._resolved
        return _CheXbertRunner(checkpoint, bert, self.device, self.dtype)

    def plan(self, predictions: Sequence[str], references: Sequence[str]) -> "_CheXbertWork":
        """The call as model work (see :mod:`rexrank.metrics.runtime.work`); no model is built here."""
        predictions, references = check_pairs(predictions, references, self.name)
        return _CheXbertWork(self, predictions, references)

    def __call__(self, predictions: Sequence[str], references: Sequence[str]) -> ScoreResult:
        return run_local(self.plan(predictions, references), self.show_progress)

    def _values(self, preds: list[tuple[Any, Any]], refs: list[tuple[Any, Any]]
                ) -> tuple[dict[str, list[float]], list[Any] | None]:
        raise NotImplementedError

    def _corpus(self, preds: list[tuple[Any, Any]], refs: list[tuple[Any, Any]]) -> dict[str, float]:
        return {}

    def _provenance(self) -> dict[str, Any]:
        return {"models": [r.provenance() for r in self._resolved], "device": self.device,
                "dtype": str(self.dtype).removeprefix("torch."),
                "text": "strip, newline->space, whitespace runs->one space; [CLS]...[SEP], 512 ids max"}


class _CheXbertWork(Work):
    """The references' distinct texts, then the predictions' (those not among them), each not
    yet cached in this process encoded once in length-sorted batches; then each pair on its own."""

    def __init__(self, scorer: _CheXbertScorerBase, predictions: list[str], references: list[str]):
        super().__init__(len(predictions))
        self.scorer, self.metric = scorer, scorer.name
        self.labeler = labeler = scorer._load()
        self.refs = [normalise(r) for r in references]
        self.preds = [normalise(p) for p in predictions]
        self.encoded = {t: labeler.cache[t] for t in dict.fromkeys(self.refs + self.preds) if t in labeler.cache}
        self.jobs = labeler.jobs(self.refs, scorer.batch_size, scorer.max_tokens)
        self.jobs += labeler.jobs(self.preds, scorer.batch_size, scorer.max_tokens,
                                  skip={t for job in self.jobs for t in job.items})

    def stages(self):
        if self.jobs:
            yield Stage("CheXbert", self.scorer._runner(), self.jobs)

    def absorb(self, job: Job, outputs) -> None:
        import torch

        for text, (cls, classes) in zip(job.items, outputs):
            self.encoded[text] = self.labeler.cache[text] = (torch.from_numpy(cls), classes)

    def failed_pairs(self, job: Job):
        lost = set(job.items)
        return [i for i in range(self.size) if self.preds[i] in lost or self.refs[i] in lost]

    def available(self, index: int) -> bool:
        return self.preds[index] in self.encoded and self.refs[index] in self.encoded

    def _sides(self, indices):
        return [self.encoded[self.preds[i]] for i in indices], [self.encoded[self.refs[i]] for i in indices]

    def values(self, indices):
        return self.scorer._values(*self._sides(indices))

    def corpus(self):
        return self.scorer._corpus(*self._sides(range(self.size)))

    def provenance(self):
        return self.scorer._provenance()

    def release(self) -> None:
        self.labeler.evict()


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

    def _values(self, preds, refs):
        return {self.name: semb_scores(preds, refs)}, None

    def _provenance(self) -> dict[str, Any]:
        return {**super()._provenance(), "official": "CXR-Report-Metric CheXbert encode.py + add_semb_col"}


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

    @staticmethod
    def _labels(preds, refs):
        import numpy as np

        y_pred = np.array([rrg_labels(c) for _, c in preds], dtype=np.int64).reshape(-1, 14)
        y_true = np.array([rrg_labels(c) for _, c in refs], dtype=np.int64).reshape(-1, 14)
        return y_pred, y_true

    def _values(self, preds, refs):
        y_pred, y_true = self._labels(preds, refs)
        all14 = chexbert_f1(y_true, y_pred)
        five = chexbert_f1(y_true[:, FIVE_INDEX], y_pred[:, FIVE_INDEX])
        details = [{"prediction_labels": dict(zip(CONDITIONS, map(int, p))),
                    "reference_labels": dict(zip(CONDITIONS, map(int, t))),
                    "prediction_classes": [CLASSIFICATION[c] for c in pc],
                    "reference_classes": [CLASSIFICATION[c] for c in rc],
                    "reference_no_finding": bool(t[13])}
                   for p, t, (_, pc), (_, rc) in zip(y_pred, y_true, preds, refs)]
        return {self.name: all14["per_sample"], "chexbert_5": five["per_sample"]}, details

    def _corpus(self, preds, refs):
        y_pred, y_true = self._labels(preds, refs)
        all14 = chexbert_f1(y_true, y_pred)
        five = chexbert_f1(y_true[:, FIVE_INDEX], y_pred[:, FIVE_INDEX])
        accuracy5 = float((y_true[:, FIVE_INDEX] == y_pred[:, FIVE_INDEX]).all(axis=1).mean()) if len(y_true) else 0.0
        return {"chexbert_micro_f1_14": all14["micro"], "chexbert_macro_f1_14": all14["macro"],
                "chexbert_micro_f1_5": five["micro"], "chexbert_macro_f1_5": five["macro"],
                "chexbert_accuracy_5": accuracy5}

    def _provenance(self) -> dict[str, Any]:
        return {**super()._provenance(), "labels": "f1chexbert get_label(mode='rrg')",
                "official": "f1chexbert 0.0.2 F1CheXbert.forward (sklearn classification_report)"}
