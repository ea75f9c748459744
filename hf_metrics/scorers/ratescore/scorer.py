"""RaTEScore, batched: the same per-study values as RaTEScore 0.6.0, aligned by study, much faster.

Where the time goes in the official loop, and what we do instead:

* it runs the NER model one sentence at a time (``batch_size=1``) for every report, even
  repeated ones; we split each distinct report once, run NER once per distinct sentence, in
  batches of sentences with the *same token length* (longest first), so no padding ever enters
  a batch and each sentence's labels are those of an unpadded run, as in the official default;
* it embeds every report's entities, per pair, as one batch padded to that report's longest
  entity; we embed each distinct (entity, padded length) once, in large batches of that
  length, which gives the official vectors (see ``embed_reports``).

Each report's sentences, each sentence's entities and each entity vector are kept for the
process (per model and device, :class:`TextCaches`), so a second system on the same test set
does none of the reference side again.

The official code drops a report that has no kept sentence from its output list, so every
later pair is scored against the wrong report (RaTEScore issue #2). We align by study and
give such a report the official "no entity" value, 0.5.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping, Sequence

from rexrank.metrics.runtime import models
from rexrank.metrics.runtime.batching import batch_defaults, pad_ids
from rexrank.metrics.scorers.ratescore.scoring import affinity_from_json, report_score
from rexrank.metrics.scorers.ratescore.sentences import RULES_ASSET, split_reports
from rexrank.metrics.scorers.ratescore.spans import decode_spans
from rexrank.metrics.registry import BIOLORD, RATE_NER
from rexrank.metrics.scorers.base import ScoreResult
from rexrank.errors import InputError

logger = logging.getLogger(__name__)

NER_MAX_LENGTH = 512
ENTITY_MAX_LENGTH = 30
# A batch of at least this many token rows (entities x padded length) gives each row the vector
# it gets in any other such batch of the same length; below ~12 rows the CPU matmul kernels take
# another path and the last bits change (measured: scripts/bench_ratescore.py, tests/test_ratescore.py).
EXACT_MIN_ROWS = 64
EMBED_BATCH_ROWS = {"cpu": 4096, "cuda": 65536}  # token rows per BioLORD forward pass, by device type
AFFINITY_MATRICES = {"long": "ratescore/long_weight", "short": "ratescore/short_weight"}
CACHE_LIMIT = 200_000  # entries per cache (reports, sentences, vectors) kept per process

Entity = tuple[str, str]  # (text, type)


@dataclass
class TextCaches:
    """What one process has computed with one pair of models on one device, per text.

    Every entry depends on its own text only (sentences on the report, entities on the sentence,
    a vector on its entity and padded length, or on the report for one embedded alone), so
    reusing it gives what recomputing gives."""

    sentences: dict[str, list[str]] = field(default_factory=dict)  # report -> kept sentences
    entities: dict[str, list[Entity]] = field(default_factory=dict)  # sentence -> entities
    vectors: dict[tuple[str, int], Any] = field(default_factory=dict)  # (entity, padded length) -> vector
    alone: dict[str, Any] = field(default_factory=dict)  # report embedded on its own -> its vectors

    def clear(self) -> None:
        for cache in (self.sentences, self.entities, self.vectors, self.alone):
            cache.clear()

    def trim(self) -> None:
        for cache in (self.sentences, self.entities, self.vectors, self.alone):
            while len(cache) > CACHE_LIMIT:
                cache.pop(next(iter(cache)))


def _row_chunks(items: Sequence[str], length: int, max_rows: int) -> Iterator[list[str]]:
    """``items`` in chunks of at most ``max_rows`` token rows, none below ``EXACT_MIN_ROWS``: a short
    last chunk is topped up with earlier items, or with its own repeated (same inputs, same vectors)."""
    size = max(1, max_rows // length)
    floor = -(-EXACT_MIN_ROWS // length)  # items needed for EXACT_MIN_ROWS rows
    for start in range(0, len(items), size):
        end = min(start + size, len(items))
        chunk = list(items[max(0, end - floor):end]) if end - start < floor else list(items[start:end])
        yield (chunk * floor)[:max(floor, len(chunk))]


def _equal_length_batches(lengths: Sequence[int], batch_size: int, max_tokens: int | None = None) -> list[list[int]]:
    """Indices grouped by equal length, longest first, at most ``batch_size`` per group (and at
    most ``max_tokens`` tokens: DeBERTa's attention holds batch x heads x length^2 scores)."""
    by_length: dict[int, list[int]] = defaultdict(list)
    for i, n in enumerate(lengths):
        by_length[n].append(i)
    batches = []
    for n in sorted(by_length, reverse=True):
        group = by_length[n]
        size = max(1, min(batch_size, max_tokens // max(1, n))) if max_tokens else batch_size
        batches.extend(group[i:i + size] for i in range(0, len(group), size))
    return batches


def _load_ner(path: str, device: str, dtype: Any = None):
    from transformers import AutoConfig, AutoModelForTokenClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = models.from_pretrained_strict(AutoModelForTokenClassification, path, "RaTE-NER")
    id2label = {int(k): v for k, v in AutoConfig.from_pretrained(path).id2label.items()}
    return tokenizer, model.eval().to(device=device, dtype=dtype), id2label


def _load_encoder(path: str, device: str, dtype: Any = None):
    """BioLORD's transformer. Only ``last_hidden_state`` is used, so a pooler is neither built nor required."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = models.from_pretrained_strict(AutoModel, path, "BioLORD", ignore=("pooler.",), add_pooling_layer=False)
    return tokenizer, model.eval().to(device=device, dtype=dtype)


class RaTEScoreScorer:
    """``RaTEScoreScorer(**options)(predictions, references) -> ScoreResult`` (column ``ratescore``).

    Options: ``device`` (default CUDA when present), ``batch_size`` (sentences per NER batch;
    default by device), ``half`` (fp16/bf16 models on CUDA, for speed only: scores are defined
    in fp32), ``num_workers`` (processes splitting sentences; default: by cores and reports),
    ``model`` (NER: ``repo@rev`` or a local folder),
    ``embedding_model`` (BioLORD, same forms), ``affinity_matrix`` (``"long"``, the official
    default, or ``"short"``), ``progress``.
    """

    name = "ratescore"

    def __init__(self, device: str | None = None, batch_size: int | None = None, half: bool = False,
                 model: str | None = None, embedding_model: str | None = None, affinity_matrix: str = "long",
                 progress: bool = True, num_workers: int | None = None, **unused: Any):
        if affinity_matrix not in AFFINITY_MATRICES:
            raise InputError(f"affinity_matrix must be one of {sorted(AFFINITY_MATRICES)}, not {affinity_matrix!r}")
        if unused:
            logger.debug("RaTEScore ignores options %s", sorted(unused))
        self.device = models.pick_device(device)
        self.dtype = models.default_dtype(self.device, half)  # fp32 unless half=True on CUDA
        self.batch_size = batch_defaults(self.device, batch_size)[0]
        self.embed_rows = EMBED_BATCH_ROWS["cuda" if self.device.startswith("cuda") else "cpu"]
        # tokens per NER batch on CUDA; on a CPU the batch size alone, as measured for parity
        self.ner_tokens = batch_defaults(self.device)[1] if self.device.startswith("cuda") else None
        self.ner_ref = models.parse_model_spec(model, RATE_NER) if model else RATE_NER
        self.encoder_ref = models.parse_model_spec(embedding_model, BIOLORD) if embedding_model else BIOLORD
        self.affinity_name = affinity_matrix
        self.progress = progress
        self.num_workers = num_workers

    # -- models ---------------------------------------------------------------------------
    def _models(self):
        from rexrank import assets

        ner = models.resolve(self.ner_ref)
        encoder = models.resolve(self.encoder_ref)
        self._ner_tokenizer, self._ner_model, self._id2label = models.load_once(
            ("ratescore-ner", str(ner.path), self.device, str(self.dtype)),
            lambda: _load_ner(str(ner.path), self.device, self.dtype))
        self._enc_tokenizer, self._encoder = models.load_once(
            ("ratescore-biolord", str(encoder.path), self.device, str(self.dtype)),
            lambda: _load_encoder(str(encoder.path), self.device, self.dtype))
        self._affinity = affinity_from_json(assets.read_json(AFFINITY_MATRICES[self.affinity_name]))
        self._caches = models.load_once(("ratescore-texts", str(ner.path), str(encoder.path), self.device,
                                         str(self.dtype)), TextCaches)
        return ner, encoder

    # -- stages ---------------------------------------------------------------------------
    def _bar(self, iterable: Iterable, total: int, desc: str):
        from tqdm.auto import tqdm

        return tqdm(iterable, total=total, desc=desc, disable=not self.progress, leave=False)

    def sentence_entities(self, sentences: Sequence[str]) -> list[list[Entity]]:
        """NER over distinct sentences: each sentence's ``(entity text, type)`` list."""
        import torch

        tokenizer, model, id2label = self._ner_tokenizer, self._ner_model, self._id2label
        ids = tokenizer(list(sentences), max_length=NER_MAX_LENGTH, truncation=True)["input_ids"] if sentences else []
        out: list[list[Entity]] = [[] for _ in sentences]
        batches = _equal_length_batches([len(x) for x in ids], self.batch_size, self.ner_tokens)
        pad = tokenizer.pad_token_id
        with torch.inference_mode():
            for batch in self._bar(batches, len(batches), "RaTEScore NER"):
                input_ids = torch.tensor([ids[i] for i in batch], device=self.device)
                logits = model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids)).logits
                for i, row in zip(batch, logits.argmax(dim=2).tolist()):
                    labels = [id2label[label] for label in row]
                    # the official keeps as many leading tokens as there are non-pad ids
                    tokens = tokenizer.convert_ids_to_tokens(ids[i][: sum(t != pad for t in ids[i])])
                    out[i] = [(tokenizer.convert_tokens_to_string(tokens[s:e + 1]), kind)
                              for s, e, kind in decode_spans(tokens, labels)]
        return out

    def embed_reports(self, report_entities: Mapping[str, Sequence[str]],
                      caches: TextCaches | None = None) -> dict[str, Any]:
        """``[CLS]`` vectors of the last hidden state for each report's entities, on CPU.

        The official ``process_embedding`` embeds one report's entities as one batch padded to
        its longest entity (``padding=True, truncation=True, max_length=30``). An entity's vector
        depends on that padded length L (the attention reductions run over L positions; on
        real-size weights the change reaches a few 1e-6 and can flip near-tied matches), and hardly on
        the other rows of the batch: on CPU, once a batch holds ``EXACT_MIN_ROWS`` token rows,
        real-size vectors came out bit-identical on every IU-Xray report we checked (the kernels
        may sum a row in another order on other shapes or thread counts: rounding, ~1e-6). So a
        report with that many rows gets its vectors from one shared pass per (entity, L), in large
        batches of width L; a smaller report is embedded on its own, exactly as the official does.
        ``caches``: vectors computed before are taken from there, new ones are added.
        """
        import torch

        caches = caches if caches is not None else TextCaches()
        hidden = self._encoder.config.hidden_size
        distinct = list(dict.fromkeys(e for entities in report_entities.values() for e in entities))
        ids = dict(zip(distinct, self._enc_tokenizer(distinct, truncation=True, max_length=ENTITY_MAX_LENGTH)[
            "input_ids"])) if distinct else {}
        width = {report: max((len(ids[e]) for e in entities), default=0) for report, entities in report_entities.items()}
        alone = [r for r, entities in report_entities.items() if 0 < len(entities) * width[r] < EXACT_MIN_ROWS]
        shared: dict[int, dict[str, None]] = defaultdict(dict)  # L -> entities (ordered set)
        for report, entities in report_entities.items():
            if len(entities) * width[report] >= EXACT_MIN_ROWS:
                shared[width[report]].update(dict.fromkeys(e for e in entities if (e, width[report]) not in caches.vectors))
        jobs = [(length, list(chunk), None) for length, entities in sorted(shared.items(), reverse=True) if entities
                for chunk in _row_chunks(list(entities), length, self.embed_rows)]
        jobs += [(width[r], list(report_entities[r]), r) for r in alone if r not in caches.alone]
        vectors = caches.vectors  # (entity, L) -> vector, from the shared batches
        own = caches.alone  # report -> its vectors, for the reports embedded alone
        pad = self._enc_tokenizer.pad_token_id
        with torch.inference_mode():
            for length, chunk, report in self._bar(jobs, len(jobs), "RaTEScore embeddings"):
                input_ids, mask = pad_ids([ids[e] for e in chunk], pad, width=length)
                out = self._encoder(input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device))
                cls = out.last_hidden_state[:, 0, :].float().cpu()
                if report is not None:
                    own[report] = cls
                else:
                    vectors.update(((entity, length), vector) for entity, vector in zip(chunk, cls))
        empty = torch.empty((0, hidden), dtype=torch.float32)
        alone_set = set(alone)
        return {report: own[report] if report in alone_set else
                torch.stack([vectors[(e, width[report])] for e in entities]) if entities else empty
                for report, entities in report_entities.items()}

    # -- the metric -----------------------------------------------------------------------
    def __call__(self, predictions: Sequence[str], references: Sequence[str]) -> ScoreResult:
        if len(predictions) != len(references):
            raise InputError(f"{len(predictions)} predictions but {len(references)} references: they must pair up")
        for side, texts in (("prediction", predictions), ("reference", references)):
            bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
            if bad:
                raise InputError(f"RaTEScore: {side}s must be strings; position(s) {bad[:5]} are not "
                                 f"(e.g. {texts[bad[0]]!r}). Use '' for a deliberately empty report.")
        ner, encoder = self._models()
        caches = self._caches
        reports = list(dict.fromkeys([*references, *predictions]))
        new = [text for text in reports if text not in caches.sentences]
        caches.sentences.update(zip(new, split_reports(new, self.num_workers)))
        report_sentences = {text: caches.sentences[text] for text in reports}
        sentences = [s for s in dict.fromkeys(s for text in reports for s in report_sentences[text])
                     if s not in caches.entities]
        caches.entities.update(zip(sentences, self.sentence_entities(sentences)))
        report_entities = {text: [e for s in report_sentences[text] for e in caches.entities[s]] for text in reports}
        vectors = self.embed_reports({text: [e[0] for e in report_entities[text]] for text in reports}, caches)
        caches.trim()

        def side(text: str):
            return vectors[text], [e[1] for e in report_entities[text]]

        cache: dict[tuple[str, str], float] = {}
        values, details = [], []
        for pred, ref in zip(predictions, references):
            if (ref, pred) not in cache:
                (ref_vec, ref_types), (pred_vec, pred_types) = side(ref), side(pred)
                cache[(ref, pred)] = report_score(ref_vec, pred_vec, ref_types, pred_types, self._affinity)
            values.append(cache[(ref, pred)])
            details.append({"reference_entities": [list(e) for e in report_entities[ref]],
                            "prediction_entities": [list(e) for e in report_entities[pred]]})
        from rexrank import assets

        provenance = {
            "models": {"ner": ner.provenance(), "embedding": encoder.provenance()},
            "assets": {name: assets.get_asset(name).sources[0].url
                       for name in (AFFINITY_MATRICES[self.affinity_name], RULES_ASSET)},
            "options": {"affinity_matrix": self.affinity_name, "device": self.device, "batch_size": self.batch_size,
                        "dtype": str(self.dtype).removeprefix("torch.")},
            "alignment": "by study; a report with no kept sentence scores 0.5 (official RaTEScore issue #2 avoided)",
        }
        return ScoreResult(self.name, {self.name: values}, details=details, provenance=provenance)
