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
from pathlib import Path
from typing import Any, Sequence

from rexrank.metrics.runtime import models
from rexrank.metrics.runtime.batching import batch_defaults, length_sorted_batches, pad_ids, progress
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
    """distilroberta-base cut to ``num_layers`` layers, with its byte-level BPE vocabulary."""

    def __init__(self, resolved: models.ResolvedModel, device: str, num_layers: int, dtype: Any = None):
        import torch
        from transformers import RobertaConfig, RobertaModel, RobertaTokenizer

        path = resolved.path
        vocab, merges = _read_bpe(path)
        # Built from vocab.json + merges.txt (not tokenizer.json) so that add_prefix_space is ours to set.
        self.tokenizers = {flag: RobertaTokenizer(vocab=vocab, merges=merges, add_prefix_space=flag)
                           for flag in (True, False)}
        config = RobertaConfig.from_pretrained(str(path))
        if config.num_hidden_layers < num_layers:
            raise CheckpointMismatchError(f"{resolved.ref}: {config.num_hidden_layers} layers, layer {num_layers} asked for")
        model = RobertaModel(config, add_pooling_layer=False)
        state = {k.removeprefix("roberta."): v for k, v in _read_weights(path, resolved.ref).items()}
        # lm_head (masked-LM head) and a stored position_ids buffer are not part of the encoder.
        models.check_state_dict(model, state, f"BERTScore encoder {resolved.ref}",
                                ignore_unexpected=("lm_head.", "pooler.", "embeddings.position_ids"))
        model.encoder.layer = torch.nn.ModuleList(list(model.encoder.layer)[:num_layers])
        self.model = model.eval().to(device=device, dtype=dtype)
        self.device = device
        tok = self.tokenizers[True]
        self.cls_id, self.sep_id, self.pad_id = tok.cls_token_id, tok.sep_token_id, tok.pad_token_id
        self.cache: dict[bool, OrderedDict[str, Any]] = {True: OrderedDict(), False: OrderedDict()}

    def token_ids(self, texts: list[str], prefix_space: bool) -> list[list[int]]:
        """bert-score's ``sent_encode``: strip, ``<s></s>`` for an empty text, truncate to 512 ids."""
        stripped = [t.strip() for t in texts]
        nonempty = [t for t in stripped if t]
        encoded = iter(self.tokenizers[prefix_space](nonempty, add_special_tokens=False)["input_ids"] if nonempty else [])
        return [[self.cls_id, *next(encoded)[:MAX_LENGTH - 2], self.sep_id] if t else [self.cls_id, self.sep_id]
                for t in stripped]

    def embed(self, texts: list[str], prefix_space: bool, batch_size: int, show_progress: bool,
              max_tokens: int | None = None) -> list[Any]:
        """Normalised layer-``num_layers`` token embeddings of each text (each distinct text run once)."""
        import torch

        cache = self.cache[prefix_space]
        todo = [t for t in dict.fromkeys(texts) if t not in cache]
        if todo:
            ids = self.token_ids(todo, prefix_space)
            batches = list(length_sorted_batches([len(i) for i in ids], batch_size, max_tokens, min_fill=0.5))
            with torch.inference_mode():
                for batch in progress(batches, len(batches), "BERTScore", show_progress):
                    input_ids, mask = pad_ids([ids[i] for i in batch], self.pad_id)
                    hidden = self.model(input_ids=input_ids.to(self.device),
                                        attention_mask=mask.to(self.device)).last_hidden_state.float()
                    hidden = hidden / hidden.norm(dim=-1, keepdim=True)
                    for row, i in enumerate(batch):
                        seq = torch.tensor(ids[i])
                        weights = ((seq != self.cls_id) & (seq != self.sep_id)).float()
                        cache[todo[i]] = (hidden[row, :len(ids[i])].cpu(), weights)
            while len(cache) > CACHE_LIMIT:
                cache.popitem(last=False)
        return [cache[t] for t in texts]


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


def greedy_match(hyps: list[Any], refs: list[Any], official_batching: bool) -> tuple[list[float], list[float], list[float]]:
    """bert-score's ``greedy_cos_idf`` (no idf) for aligned lists of (embeddings, weights)."""
    import torch

    n = len(hyps)
    hyp_len = [h[0].shape[0] for h in hyps]
    ref_len = [r[0].shape[0] for r in refs]
    hyp_padded = [False] * n
    ref_padded = [False] * n
    if official_batching:
        for start in range(0, n, OFFICIAL_PAIR_BATCH):
            block = range(start, min(n, start + OFFICIAL_PAIR_BATCH))
            hmax, rmax = max(hyp_len[i] for i in block), max(ref_len[i] for i in block)
            for i in block:
                hyp_padded[i], ref_padded[i] = hyp_len[i] < hmax, ref_len[i] < rmax
    P, R, F = [], [], []
    for i in range(n):
        (h, hw), (r, rw) = hyps[i], refs[i]
        h, r, hw, rw = h.double(), r.double(), hw.double(), rw.double()
        sim = h @ r.T
        word_precision = sim.max(dim=1).values
        word_recall = sim.max(dim=0).values
        if ref_padded[i]:
            word_precision = word_precision.clamp(min=0)
        if hyp_padded[i]:
            word_recall = word_recall.clamp(min=0)
        p = (word_precision * (hw / hw.sum())).sum()
        rr = (word_recall * (rw / rw.sum())).sum()
        if hyp_len[i] == 2 or ref_len[i] == 2:  # only <s></s>: bert-score sets P = R = 0
            p, rr = torch.zeros((), dtype=torch.float64), torch.zeros((), dtype=torch.float64)
        f = 2 * p * rr / (p + rr)
        f = torch.nan_to_num(f, nan=0.0)
        P.append(p)
        R.append(rr)
        F.append(f)
    return P, R, F


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
            resolved = self._resolved
            self._encoder = models.load_once(
                ("bertscore-encoder", str(resolved.path), resolved.revision, self.device, str(self.dtype), NUM_LAYERS),
                lambda: _Encoder(resolved, self.device, NUM_LAYERS, self.dtype))
        return self._encoder

    def __call__(self, predictions: Sequence[str], references: Sequence[str]) -> ScoreResult:
        import torch

        predictions, references = check_pairs(predictions, references, self.name)
        encoder = self._load()
        cands = [re.sub(r" +", " ", p) for p in predictions]
        refs = [re.sub(r" +", " ", r) for r in references]
        embedded = encoder.embed(refs + cands, self.prefix_space, self.batch_size, self.show_progress, self.max_tokens)
        _, _, F = greedy_match(embedded[len(refs):], embedded[:len(refs)], self.official_batching)
        raw = torch.stack(F) if F else torch.zeros(0, dtype=torch.float64)
        baseline = float(torch.tensor(BASELINE_F, dtype=torch.float32))  # bert-score reads it as float32
        rescaled = (raw - baseline) / (1 - baseline)
        return ScoreResult(
            self.name, {self.name: rescaled.tolist(), "bertscore_raw_f1": raw.tolist()},
            provenance={"models": [self._resolved.provenance()], "layer": NUM_LAYERS, "idf": False,
                        "baseline_f": BASELINE_F,
                        "tokenisation": "prefix_space (bert-score 0.3.11 on transformers 3.0.1, official pinned stack)"
                        if self.prefix_space else "no prefix space (bert-score 0.3.11 on transformers >= 4.20)",
                        "official_batching": self.official_batching, "device": self.device,
                        "dtype": str(self.dtype).removeprefix("torch."),
                        "official": "bert-score 0.3.11 BERTScorer(model_type='distilroberta-base', lang='en', "
                                    "rescale_with_baseline=True, idf=False)"})
