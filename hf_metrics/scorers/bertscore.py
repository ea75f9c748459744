"""BERTScore F1 as ReXrank computes it: bert-score 0.3.11 with distilroberta-base, layer 5,
no idf, rescaled with bert-score's baseline (DESIGN §7.3). Our own implementation, because
bert-score on transformers 5 silently changes the tokenisation and crashes on empty texts.

What the official code does, and so do we:

* text: runs of spaces collapsed (CXR-Report-Metric), then ``strip()``; an empty text is
  ``<s></s>``; at most 510 word pieces between ``<s>`` and ``</s>``.
* tokenisation: ``prefix_space=True`` (default) is the pinned official stack (bert-score
  0.3.11 on transformers 3.0.1, where ``RobertaTokenizer`` is a ``GPT2Tokenizer`` and bert-score
  passes ``add_prefix_space=True``: the first word is encoded as ``Ġword``).
  ``prefix_space=False`` is what the same bert-score does on transformers >= 4.20.
* embeddings: the output of layer 5 of 6; every token weighs 1 except ``<s>``/``</s>`` (0),
  which still take part in the greedy max. P, R from greedy cosine matching; F = 2PR/(P+R),
  NaN -> 0; a text with only the two special tokens gives P = R = 0.
* bert-score pads 64 pairs at a time and multiplies padded similarities by 0 *before* the
  max, so where a token's best cosine is negative and the other text is shorter than the
  longest one of its 64-pair batch, the max is 0. ``official_batching=True`` (default)
  reproduces that; with real distilroberta weights layer-5 cosines are positive and it never
  matters, but it keeps per-study parity exact for any weights.
* reported: ``(F - b) / (1 - b)`` in float32 with b = 0.8473319, the F column of row 5 of
  bert-score's ``rescale_baseline/en/distilroberta-base.tsv`` (so an empty prediction scores
  (0 - b) / (1 - b) = -5.5502).
"""

from __future__ import annotations

import json
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from rexrank.metrics.runtime import models
from rexrank.metrics.runtime.batching import batch_defaults, length_sorted_batches, pad_ids
from rexrank.metrics.runtime.work import Job, Runner, Stage, Work, run_local
from rexrank.metrics.scorers.base import check_pairs
from rexrank.metrics.registry import DISTILROBERTA
from rexrank.metrics.scorers.base import ScoreResult
from rexrank.errors import CheckpointMismatchError, ModelUnavailableError

logger = logging.getLogger(__name__)

NUM_LAYERS = 5  # bert_score.utils.model2layers["distilroberta-base"]
# bert-score 0.3.11, bert_score/rescale_baseline/en/distilroberta-base.tsv, row LAYER=5, column F.
BASELINE_F = 0.8473319
MAX_LENGTH = 512  # distilroberta-base's max_len in the pinned transformers (ids incl. <s> and </s>)
OFFICIAL_PAIR_BATCH = 64  # BERTScorer.score(batch_size=64): pairs padded together in greedy matching
CACHE_LIMIT = 50_000  # distinct texts whose embeddings are kept in memory per model


class _Encoder:
    """distilroberta-base cut to ``num_layers`` layers, with its byte-level BPE vocabulary.

    The tokenizers and the per-text cache are built at once; the model only when a forward
    pass runs here (a Ray driver plans the batches and never builds it)."""

    def __init__(self, resolved: models.ResolvedModel, device: str, num_layers: int, dtype: Any = None):
        from transformers import RobertaTokenizer

        vocab, merges = _read_bpe(resolved.path)
        # Built from vocab.json + merges.txt (not tokenizer.json) so that add_prefix_space is ours to set.
        self.tokenizers = {flag: RobertaTokenizer(vocab=vocab, merges=merges, add_prefix_space=flag)
                           for flag in (True, False)}
        self.resolved, self.device, self.num_layers, self.dtype = resolved, device, num_layers, dtype
        tok = self.tokenizers[True]
        self.cls_id, self.sep_id, self.pad_id = tok.cls_token_id, tok.sep_token_id, tok.pad_token_id
        self.cache: dict[bool, OrderedDict[str, Any]] = {True: OrderedDict(), False: OrderedDict()}
        self._model: Any = None

    @property
    def model(self) -> Any:
        if self._model is None:
            import torch
            from transformers import RobertaConfig, RobertaModel

            path, ref = self.resolved.path, self.resolved.ref
            config = RobertaConfig.from_pretrained(str(path))
            if config.num_hidden_layers < self.num_layers:
                raise CheckpointMismatchError(f"{ref}: {config.num_hidden_layers} layers, layer {self.num_layers} asked for")
            model = RobertaModel(config, add_pooling_layer=False)
            state = {k.removeprefix("roberta."): v for k, v in _read_weights(path, ref).items()}
            # lm_head (masked-LM head) and a stored position_ids buffer are not part of the encoder.
            models.check_state_dict(model, state, f"BERTScore encoder {ref}",
                                    ignore_unexpected=("lm_head.", "pooler.", "embeddings.position_ids"))
            model.encoder.layer = torch.nn.ModuleList(list(model.encoder.layer)[:self.num_layers])
            self._model = model.eval().to(device=self.device, dtype=self.dtype)
        return self._model

    def token_ids(self, texts: list[str], prefix_space: bool) -> list[list[int]]:
        """bert-score's ``sent_encode``: strip, ``<s></s>`` for an empty text, truncate to 512 ids."""
        stripped = [t.strip() for t in texts]
        nonempty = [t for t in stripped if t]
        encoded = iter(self.tokenizers[prefix_space](nonempty, add_special_tokens=False)["input_ids"] if nonempty else [])
        return [[self.cls_id, *next(encoded)[:MAX_LENGTH - 2], self.sep_id] if t else [self.cls_id, self.sep_id]
                for t in stripped]

    def forward(self, ids: list[list[int]]) -> list[Any]:
        """One padded batch: each text's normalised layer-``num_layers`` token vectors (float32 arrays)."""
        import torch

        with torch.inference_mode():
            input_ids, mask = pad_ids(ids, self.pad_id)
            hidden = self.model(input_ids=input_ids.to(self.device),
                                attention_mask=mask.to(self.device)).last_hidden_state.float()
            hidden = (hidden / hidden.norm(dim=-1, keepdim=True)).cpu()
            return [hidden[row, :len(seq)].numpy().copy() for row, seq in enumerate(ids)]

    def weights(self, ids: list[int]) -> Any:
        """bert-score's token weights without idf: 1, and 0 for ``<s>`` / ``</s>``."""
        import torch

        seq = torch.tensor(ids)
        return ((seq != self.cls_id) & (seq != self.sep_id)).float()

    def evict(self) -> None:
        for cache in self.cache.values():
            while len(cache) > CACHE_LIMIT:
                cache.popitem(last=False)


@dataclass(frozen=True)
class _EncoderRunner(Runner):
    """Where the BERTScore forward passes run (this process, or a Ray actor)."""

    resolved: models.ResolvedModel
    device: str
    dtype: Any
    num_layers: int = NUM_LAYERS

    def key(self) -> tuple:
        return ("bertscore-encoder", str(self.resolved.path), self.resolved.revision, self.device, str(self.dtype),
                self.num_layers)

    def build(self) -> _Encoder:
        return _Encoder(models.locate(self.resolved), self.device, self.num_layers, self.dtype)

    def run(self, encoder: _Encoder, job: Job) -> list[Any]:
        return encoder.forward(list(job.payload))


def _read_bpe(path: Path) -> tuple[dict[str, int], list[tuple[str, str]]]:
    try:
        vocab = json.loads((path / "vocab.json").read_text(encoding="utf-8"))
        lines = (path / "merges.txt").read_text(encoding="utf-8").split("\n")
    except (OSError, ValueError) as err:
        raise CheckpointMismatchError(f"BERTScore tokenizer files in {path} are missing or unreadable: {err}") from err
    merges = [tuple(line.split(" ")) for line in lines if line and not line.startswith("#version")]
    return vocab, merges


def _read_weights(path: Path, ref: models.ModelRef) -> dict[str, Any]:
    import torch

    try:
        if (path / "model.safetensors").is_file():
            from safetensors.torch import load_file

            return load_file(str(path / "model.safetensors"))
        if (path / "pytorch_model.bin").is_file():
            return torch.load(path / "pytorch_model.bin", map_location="cpu", weights_only=True)
    except Exception as err:  # truncated or corrupt file
        raise CheckpointMismatchError(f"{ref}: cannot read the weights in {path} ({type(err).__name__}: {err}); "
                                      "the file is corrupt or incomplete: delete it from the cache and download again") from err
    raise ModelUnavailableError(f"{ref}: no model.safetensors or pytorch_model.bin in {path}")


def padding_flags(hyp_len: Sequence[int], ref_len: Sequence[int], official_batching: bool
                  ) -> tuple[list[bool], list[bool]]:
    """Per pair, whether bert-score pads the hypothesis / reference in its 64-pair batch."""
    n = len(hyp_len)
    hyp_padded, ref_padded = [False] * n, [False] * n
    if official_batching:
        for start in range(0, n, OFFICIAL_PAIR_BATCH):
            block = range(start, min(n, start + OFFICIAL_PAIR_BATCH))
            hmax, rmax = max(hyp_len[i] for i in block), max(ref_len[i] for i in block)
            for i in block:
                hyp_padded[i], ref_padded[i] = hyp_len[i] < hmax, ref_len[i] < rmax
    return hyp_padded, ref_padded


def pair_f1(hyp: Any, ref: Any, hyp_padded: bool, ref_padded: bool) -> tuple[Any, Any, Any]:
    """bert-score's ``greedy_cos_idf`` (no idf) for one pair of (embeddings, weights): P, R, F."""
    import torch

    (h, hw), (r, rw) = hyp, ref
    h, r, hw, rw = h.double(), r.double(), hw.double(), rw.double()
    sim = h @ r.T
    word_precision = sim.max(dim=1).values
    word_recall = sim.max(dim=0).values
    if ref_padded:
        word_precision = word_precision.clamp(min=0)
    if hyp_padded:
        word_recall = word_recall.clamp(min=0)
    p = (word_precision * (hw / hw.sum())).sum()
    rr = (word_recall * (rw / rw.sum())).sum()
    if h.shape[0] == 2 or r.shape[0] == 2:  # only <s></s>: bert-score sets P = R = 0
        p, rr = torch.zeros((), dtype=torch.float64), torch.zeros((), dtype=torch.float64)
    f = torch.nan_to_num(2 * p * rr / (p + rr), nan=0.0)
    return p, rr, f


def greedy_match(hyps: list[Any], refs: list[Any], official_batching: bool) -> tuple[list[float], list[float], list[float]]:
    """bert-score's ``greedy_cos_idf`` (no idf) for aligned lists of (embeddings, weights)."""
    flags = padding_flags([h[0].shape[0] for h in hyps], [r[0].shape[0] for r in refs], official_batching)
    P, R, F = [], [], []
    for h, r, hp, rp in zip(hyps, refs, *flags):
        p, rr, f = pair_f1(h, r, hp, rp)
        P.append(p)
        R.append(rr)
        F.append(f)
    return P, R, F


def rescale(raw_f: list[Any]) -> tuple[list[float], list[float]]:
    """(rescaled F, raw F) as floats: ``(F - b) / (1 - b)`` with b read as float32, as bert-score does."""
    import torch

    raw = torch.stack(raw_f) if raw_f else torch.zeros(0, dtype=torch.float64)
    baseline = float(torch.tensor(BASELINE_F, dtype=torch.float32))
    return ((raw - baseline) / (1 - baseline)).tolist(), raw.tolist()


class BertScoreScorer:
    """``BertScoreScorer(device=None, batch_size=None, model=None, prefix_space=True)(preds, refs)``.

    Per-study column ``bertscore`` (rescaled F1); ``bertscore_raw_f1`` too (the unscaled F).
    ``batch_size`` / ``max_tokens``: texts and padded tokens per forward pass (default by device,
    :func:`~rexrank.metrics.runtime.batching.batch_defaults`). ``half``: fp16/bf16 on CUDA, for
    speed only (scores are defined in fp32; the device check reports the drift).
    """

    name = "bertscore"

    def __init__(self, device: str | None = None, batch_size: int | None = None, model: str | None = None,
                 prefix_space: bool = True, official_batching: bool = True, progress: bool = False,
                 half: bool = False, max_tokens: int | None = None, **_: Any):
        self.device = models.pick_device(device)
        self.dtype = models.default_dtype(self.device, half)  # fp32 unless half=True on CUDA
        self.batch_size, self.max_tokens = batch_defaults(self.device, batch_size, max_tokens)
        self.ref = models.parse_model_spec(model, DISTILROBERTA) if model else DISTILROBERTA
        self.prefix_space = bool(prefix_space)
        self.official_batching = bool(official_batching)
        self.show_progress = progress
        self._encoder: _Encoder | None = None
        self._resolved: models.ResolvedModel | None = None

    def _load(self) -> _Encoder:
        if self._encoder is None:
            self._resolved = models.resolve(self.ref)
            self._encoder = self._runner().load()
        return self._encoder

    def _runner(self) -> _EncoderRunner:
        return _EncoderRunner(self._resolved, self.device, self.dtype)

    def _provenance(self) -> dict[str, Any]:
        return {"models": [self._resolved.provenance()], "layer": NUM_LAYERS, "idf": False,
                "baseline_f": BASELINE_F,
                "tokenisation": "prefix_space (bert-score 0.3.11 on transformers 3.0.1, official pinned stack)"
                if self.prefix_space else "no prefix space (bert-score 0.3.11 on transformers >= 4.20)",
                "official_batching": self.official_batching, "device": self.device,
                "dtype": str(self.dtype).removeprefix("torch."),
                "official": "bert-score 0.3.11 BERTScorer(model_type='distilroberta-base', lang='en', "
                            "rescale_with_baseline=True, idf=False)"}

    def plan(self, predictions: Sequence[str], references: Sequence[str]) -> "_BertScoreWork":
        """The call as model work (see :mod:`rexrank.metrics.runtime.work`); no model is built here."""
        predictions, references = check_pairs(predictions, references, self.name)
        return _BertScoreWork(self, predictions, references)

    def __call__(self, predictions: Sequence[str], references: Sequence[str]) -> ScoreResult:
        return run_local(self.plan(predictions, references), self.show_progress)


class _BertScoreWork(Work):
    """Each distinct text not yet cached in this process is encoded once, in length-sorted
    batches of ``batch_size``; then every pair is matched greedily on its own."""

    metric = "bertscore"

    def __init__(self, scorer: BertScoreScorer, predictions: list[str], references: list[str]):
        super().__init__(len(predictions))
        self.scorer = scorer
        self.encoder = encoder = scorer._load()
        self.cands = [re.sub(r" +", " ", p) for p in predictions]
        self.refs = [re.sub(r" +", " ", r) for r in references]
        self.cache = encoder.cache[scorer.prefix_space]
        distinct = list(dict.fromkeys(self.refs + self.cands))
        self.embedded = {t: self.cache[t] for t in distinct if t in self.cache}
        todo = [t for t in distinct if t not in self.embedded]
        ids = encoder.token_ids(todo, scorer.prefix_space) if todo else []
        length = {t: e[0].shape[0] for t, e in self.embedded.items()} | {t: len(i) for t, i in zip(todo, ids)}
        self.flags = padding_flags([length[c] for c in self.cands], [length[r] for r in self.refs],
                                   scorer.official_batching)
        self.jobs = [Job(tuple(todo[i] for i in batch), [ids[i] for i in batch])
                     for batch in length_sorted_batches([len(i) for i in ids], scorer.batch_size, scorer.max_tokens,
                                                        min_fill=0.5)]

    def stages(self):
        if self.jobs:
            yield Stage("BERTScore", self.scorer._runner(), self.jobs)

    def absorb(self, job: Job, outputs) -> None:
        import torch

        for text, ids, hidden in zip(job.items, job.payload, outputs):
            entry = (torch.from_numpy(hidden), self.encoder.weights(ids))
            self.embedded[text] = self.cache[text] = entry

    def failed_pairs(self, job: Job):
        lost = set(job.items)
        return [i for i in range(self.size) if self.cands[i] in lost or self.refs[i] in lost]

    def available(self, index: int) -> bool:
        return self.cands[index] in self.embedded and self.refs[index] in self.embedded

    def values(self, indices):
        hyp_padded, ref_padded = self.flags
        raw = [pair_f1(self.embedded[self.cands[i]], self.embedded[self.refs[i]], hyp_padded[i], ref_padded[i])[2]
               for i in indices]
        rescaled, raw_f = rescale(raw)
        return {self.metric: rescaled, "bertscore_raw_f1": raw_f}, None

    def provenance(self):
        return self.scorer._provenance()

    def release(self) -> None:
        self.encoder.evict()
