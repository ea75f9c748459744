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
from rexrank.metrics.runtime.work import Job, Runner, Stage, Work, run_local
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


class _Ner:
    """RaTE-NER's tokenizer and labels; the model is built on its first forward pass here."""

    def __init__(self, path: str, device: str, dtype: str = "float32"):
        from transformers import AutoConfig, AutoTokenizer

        self.path, self.device, self.dtype = path, device, dtype
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.id2label = {int(k): v for k, v in AutoConfig.from_pretrained(path).id2label.items()}
        self._model: Any = None

    @property
    def model(self) -> Any:
        if self._model is None:
            from transformers import AutoModelForTokenClassification

            import torch

            self._model = models.from_pretrained_strict(AutoModelForTokenClassification, self.path, "RaTE-NER").eval() \
                .to(device=self.device, dtype=getattr(torch, self.dtype))
        return self._model

    def forward(self, ids: list[list[int]]) -> list[list[int]]:
        """One batch of equal-length sentences (no padding): each token's label index."""
        import torch

        with torch.inference_mode():
            input_ids = torch.tensor(ids, device=self.device)
            logits = self.model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids)).logits
            return logits.argmax(dim=2).tolist()


class _Biolord:
    """BioLORD's tokenizer; its transformer (only ``last_hidden_state`` is used, so no pooler is
    built or required) on its first forward pass here."""

    def __init__(self, path: str, device: str, dtype: str = "float32"):
        from transformers import AutoConfig, AutoTokenizer

        self.path, self.device, self.dtype = path, device, dtype
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.hidden_size = int(AutoConfig.from_pretrained(path).hidden_size)
        self._model: Any = None

    @property
    def model(self) -> Any:
        if self._model is None:
            from transformers import AutoModel

            import torch

            self._model = models.from_pretrained_strict(AutoModel, self.path, "BioLORD", ignore=("pooler.",),
                                                        add_pooling_layer=False).eval() \
                .to(device=self.device, dtype=getattr(torch, self.dtype))
        return self._model

    def forward(self, payload: tuple[int, list[list[int]]]) -> Any:
        """One batch padded to its width: each row's ``[CLS]`` vector (float32 array)."""
        import torch

        length, ids = payload
        with torch.inference_mode():
            input_ids, mask = pad_ids(ids, self.tokenizer.pad_token_id, width=length)
            out = self.model(input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device))
            return out.last_hidden_state[:, 0, :].float().cpu().numpy()


@dataclass(frozen=True)
class _ModelRunner(Runner):
    """Where RaTEScore's NER or BioLORD passes run (this process, or a Ray actor)."""

    kind: str  # "ner" or "biolord"
    resolved: models.ResolvedModel
    device: str
    dtype: str = "float32"

    def key(self) -> tuple:
        return (f"ratescore-{self.kind}", str(self.resolved.path), self.device, self.dtype)

    def build(self) -> Any:
        cls = _Ner if self.kind == "ner" else _Biolord
        return cls(str(models.locate(self.resolved).path), self.device, self.dtype)

    def run(self, model: Any, job: Job) -> Any:
        return model.forward(job.payload)


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
    def _runners(self) -> tuple[_ModelRunner, _ModelRunner]:
        """The NER and BioLORD runners, their tokenizers loaded here (models only where they run)."""
        from rexrank import assets

        dtype = str(self.dtype).removeprefix("torch.")
        ner = _ModelRunner("ner", models.resolve(self.ner_ref), self.device, dtype)
        biolord = _ModelRunner("biolord", models.resolve(self.encoder_ref), self.device, dtype)
        self._ner, self._bio = ner.load(), biolord.load()
        self._ner_tokenizer, self._id2label = self._ner.tokenizer, self._ner.id2label
        self._enc_tokenizer = self._bio.tokenizer
        self._affinity = affinity_from_json(assets.read_json(AFFINITY_MATRICES[self.affinity_name]))
        self._caches = models.load_once(("ratescore-texts", str(ner.resolved.path), str(biolord.resolved.path),
                                         self.device, dtype), TextCaches)
        return ner, biolord

    def _models(self):
        """Both models built in this process (tests and benchmarks call them directly)."""
        ner, biolord = self._runners()
        self._ner_model, self._encoder = self._ner.model, self._bio.model
        return ner.resolved, biolord.resolved

    # -- stages ---------------------------------------------------------------------------
    def _bar(self, iterable: Iterable, total: int, desc: str):
        from tqdm.auto import tqdm

        return tqdm(iterable, total=total, desc=desc, disable=not self.progress, leave=False)

    def ner_jobs(self, sentences: Sequence[str]) -> list[Job]:
        """NER over distinct sentences: batches of equal token length, longest first."""
        ids = self._ner_tokenizer(list(sentences), max_length=NER_MAX_LENGTH, truncation=True)["input_ids"] \
            if sentences else []
        return [Job(tuple(batch), [ids[i] for i in batch])
                for batch in _equal_length_batches([len(x) for x in ids], self.batch_size, self.ner_tokens)]

    def decode_ner(self, ids: list[int], labels: list[int]) -> list[Entity]:
        """A sentence's ``(entity text, type)`` list from its token labels."""
        tokenizer, pad = self._ner_tokenizer, self._ner_tokenizer.pad_token_id
        names = [self._id2label[label] for label in labels]
        # the official keeps as many leading tokens as there are non-pad ids
        tokens = tokenizer.convert_ids_to_tokens(ids[: sum(t != pad for t in ids)])
        return [(tokenizer.convert_tokens_to_string(tokens[s:e + 1]), kind) for s, e, kind in decode_spans(tokens, names)]

    def sentence_entities(self, sentences: Sequence[str]) -> list[list[Entity]]:
        """NER over distinct sentences: each sentence's ``(entity text, type)`` list."""
        ner, _ = self._runners()
        out: list[list[Entity]] = [[] for _ in sentences]
        model = ner.load()
        for job in self._bar(self.ner_jobs(sentences), None, "RaTEScore NER"):
            for i, ids, labels in zip(job.items, job.payload, ner.run(model, job)):
                out[i] = self.decode_ner(ids, labels)
        return out

    def embedding_plan(self, report_entities: Mapping[str, Sequence[str]],
                       caches: TextCaches | None = None) -> tuple[list[Job], dict[str, int]]:
        """The BioLORD batches for each report's entities, and each report's padded width.

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
        distinct = list(dict.fromkeys(e for entities in report_entities.values() for e in entities))
        ids = dict(zip(distinct, self._enc_tokenizer(distinct, truncation=True, max_length=ENTITY_MAX_LENGTH)[
            "input_ids"])) if distinct else {}
        width = {report: max((len(ids[e]) for e in entities), default=0) for report, entities in report_entities.items()}
        alone = [r for r, entities in report_entities.items() if 0 < len(entities) * width[r] < EXACT_MIN_ROWS]
        shared: dict[int, dict[str, None]] = defaultdict(dict)  # L -> entities (ordered set)
        for report, entities in report_entities.items():
            if len(entities) * width[report] >= EXACT_MIN_ROWS:
                shared[width[report]].update(dict.fromkeys(e for e in entities if caches is None
                                                           or (e, width[report]) not in caches.vectors))
        jobs = [Job(tuple(("shared", length, e) for e in chunk), (length, [ids[e] for e in chunk]))
                for length, entities in sorted(shared.items(), reverse=True) if entities
                for chunk in _row_chunks(list(entities), length, self.embed_rows)]
        jobs += [Job((("alone", r),), (width[r], [ids[e] for e in report_entities[r]])) for r in alone
                 if caches is None or r not in caches.alone]
        return jobs, width

    def embed_reports(self, report_entities: Mapping[str, Sequence[str]],
                      caches: TextCaches | None = None) -> dict[str, Any]:
        """``[CLS]`` vectors of the last hidden state for each report's entities, on CPU (see
        :meth:`embedding_plan` for the batches). ``caches``: vectors computed before are taken
        from there, new ones are added."""
        _, biolord = self._runners()
        caches = caches if caches is not None else TextCaches()
        jobs, width = self.embedding_plan(report_entities, caches)
        vectors = _Vectors(report_entities, width, self._bio.hidden_size, caches)
        model = biolord.load()
        for job in self._bar(jobs, len(jobs), "RaTEScore embeddings"):
            vectors.absorb(job, biolord.run(model, job))
        return {report: vectors.of(report) for report in report_entities}

    # -- the metric -----------------------------------------------------------------------
    def plan(self, predictions: Sequence[str], references: Sequence[str]) -> "_RaTEWork":
        """The call as model work (see :mod:`rexrank.metrics.runtime.work`); no model is built here."""
        if len(predictions) != len(references):
            raise InputError(f"{len(predictions)} predictions but {len(references)} references: they must pair up")
        for side, texts in (("prediction", predictions), ("reference", references)):
            bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
            if bad:
                raise InputError(f"RaTEScore: {side}s must be strings; position(s) {bad[:5]} are not "
                                 f"(e.g. {texts[bad[0]]!r}). Use '' for a deliberately empty report.")
        return _RaTEWork(self, list(predictions), list(references))

    def __call__(self, predictions: Sequence[str], references: Sequence[str]) -> ScoreResult:
        return run_local(self.plan(predictions, references), self.progress)


class _Vectors:
    """Each report's entity vectors, from the shared (entity, L) passes or its own."""

    def __init__(self, report_entities: Mapping[str, Sequence[str]], width: Mapping[str, int], hidden: int,
                 caches: TextCaches):
        self.entities, self.width, self.hidden = report_entities, width, hidden
        self.shared = caches.vectors  # (entity, L) -> vector, kept for the process
        self.own = caches.alone  # report -> its vectors, for the reports embedded alone

    def absorb(self, job: Job, cls: Any) -> None:
        import torch

        cls = torch.from_numpy(cls)
        if job.items[0][0] == "alone":
            self.own[job.items[0][1]] = cls
        else:
            self.shared.update(((entity, length), vector) for (_, length, entity), vector in zip(job.items, cls))

    def has(self, report: str) -> bool:
        entities = self.entities[report]
        return not entities or report in self.own or all((e, self.width[report]) in self.shared for e in entities)

    def of(self, report: str) -> Any:
        import torch

        entities = self.entities[report]
        if report in self.own:
            return self.own[report]
        if not entities:
            return torch.empty((0, self.hidden), dtype=torch.float32)
        return torch.stack([self.shared[(e, self.width[report])] for e in entities])

    def reports_of(self, job: Job) -> set[str]:
        if job.items[0][0] == "alone":
            return {job.items[0][1]}
        needed = {(entity, length) for _, length, entity in job.items}
        return {r for r, entities in self.entities.items() if any((e, self.width[r]) in needed for e in entities)}


class _RaTEWork(Work):
    """Sentences of each distinct report; NER once per distinct sentence; BioLORD over the
    reports' entities (:meth:`RaTEScoreScorer.embedding_plan`); then each pair on its own. What
    a text gave once (its sentences, entities, vectors) is kept for the process (``TextCaches``)."""

    metric = "ratescore"

    def __init__(self, scorer: RaTEScoreScorer, predictions: list[str], references: list[str]):
        super().__init__(len(predictions))
        self.scorer, self.preds, self.refs = scorer, predictions, references
        self.runners = scorer._runners()
        self.caches = caches = scorer._caches
        self.reports = list(dict.fromkeys([*references, *predictions]))
        new = [text for text in self.reports if text not in caches.sentences]
        caches.sentences.update(zip(new, split_reports(new, scorer.num_workers)))
        self.report_sentences = {text: caches.sentences[text] for text in self.reports}
        self.sentences = [s for s in dict.fromkeys(s for text in self.reports for s in self.report_sentences[text])
                          if s not in caches.entities]  # the sentences NER has not seen
        self.lost: set[str] = set()  # reports a failed job left without a value
        self.report_entities: dict[str, list[Entity]] = {}
        self.vectors: _Vectors | None = None

    def stages(self):
        ner, biolord = self.runners
        jobs = self.scorer.ner_jobs(self.sentences)
        if jobs:
            yield Stage("RaTEScore NER", ner, jobs)
        entities = self.caches.entities
        self.report_entities = {text: [e for s in self.report_sentences[text] for e in entities[s]]
                                for text in self.reports if text not in self.lost}
        names = {t: [e[0] for e in ents] for t, ents in self.report_entities.items()}
        jobs, width = self.scorer.embedding_plan(names, self.caches)
        self.vectors = _Vectors(names, width, self.scorer._bio.hidden_size, self.caches)
        if jobs:
            yield Stage("RaTEScore embeddings", biolord, jobs, split=None)

    def absorb(self, job: Job, outputs) -> None:
        if self.vectors is None:  # NER
            for i, ids, labels in zip(job.items, job.payload, outputs):
                self.caches.entities[self.sentences[i]] = self.scorer.decode_ner(ids, labels)
        else:
            self.vectors.absorb(job, outputs)

    def fail(self, job: Job, error: str) -> None:
        if self.vectors is None:
            sentences = {self.sentences[i] for i in job.items}
            lost = {t for t in self.reports if sentences & set(self.report_sentences[t])}
        else:
            lost = self.vectors.reports_of(job)
        self.lost |= lost
        for i in range(self.size):
            if self.preds[i] in lost or self.refs[i] in lost:
                self.failures.setdefault(i, error)

    def available(self, index: int) -> bool:
        return self.vectors is not None and self.vectors.has(self.preds[index]) and self.vectors.has(self.refs[index])

    def values(self, indices):
        def side(text: str):
            return self.vectors.of(text), [e[1] for e in self.report_entities[text]]

        scores, values, details = {}, [], []
        for i in indices:
            pred, ref = self.preds[i], self.refs[i]
            if (ref, pred) not in scores:
                (ref_vec, ref_types), (pred_vec, pred_types) = side(ref), side(pred)
                scores[(ref, pred)] = report_score(ref_vec, pred_vec, ref_types, pred_types, self.scorer._affinity)
            values.append(scores[(ref, pred)])
            details.append({"reference_entities": [list(e) for e in self.report_entities[ref]],
                            "prediction_entities": [list(e) for e in self.report_entities[pred]]})
        return {self.metric: values}, details

    def release(self) -> None:
        self.caches.trim()

    def provenance(self):
        from rexrank import assets

        scorer = self.scorer
        ner, biolord = self.runners
        return {
            "models": {"ner": ner.resolved.provenance(), "embedding": biolord.resolved.provenance()},
            "assets": {name: assets.get_asset(name).sources[0].url
                       for name in (AFFINITY_MATRICES[scorer.affinity_name], RULES_ASSET)},
            "options": {"affinity_matrix": scorer.affinity_name, "device": scorer.device, "batch_size": scorer.batch_size,
                        "dtype": str(scorer.dtype).removeprefix("torch.")},
            "alignment": "by study; a report with no kept sentence scores 0.5 (official RaTEScore issue #2 avoided)",
        }
