"""Reports → RadGraph annotations (entities and relations), batched across reports.

Each distinct text is annotated once per process: the annotator keeps what it has seen, so the
reference side of a test set costs nothing the second time. Work is sorted by length (encoder
segments by wordpieces, span scoring by words) so padding stays small.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from rexrank.metrics.runtime import models
from rexrank.metrics.runtime.work import Job, Runner, Stage, Work, run_local
from rexrank.metrics.scorers.radgraph.checkpoint import RadGraphCheckpoint, read_checkpoint
from rexrank.metrics.scorers.radgraph.text import EncodedDoc, WordPiecer, segments

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class Annotation:
    """One report's RadGraph output. Spans are inclusive word indices into ``words``; a relation
    is kept only when both ends are entities (as radgraph's ``get_entity`` does)."""

    words: tuple[str, ...]
    entities: tuple[tuple[int, int, str], ...] = ()  # (start, end, label)
    relations: tuple[tuple[int, int, int, int, str], ...] = ()  # (start1, end1, start2, end2, type)

    def text(self, start: int, end: int) -> str:
        return " ".join(self.words[start:end + 1])

    def entity_set(self) -> frozenset[tuple[str, str]]:
        """{(entity text, label)}: DESIGN §7.5's key, positions dropped."""
        return frozenset((self.text(s, e), label) for s, e, label in self.entities)

    def relation_set(self) -> frozenset[tuple[tuple[str, str], tuple[str, str], str]]:
        """{((source text, label), (target text, label), relation type)}."""
        label = {(s, e): lab for s, e, lab in self.entities}
        return frozenset(((self.text(s1, e1), label[s1, e1]), (self.text(s2, e2), label[s2, e2]), kind)
                         for s1, e1, s2, e2, kind in self.relations)


@dataclass
class RadGraphAnnotator:
    """The tokenizer, label vocabularies and per-process annotation cache, and the model.

    The model is built on the first forward pass in this process: a Ray driver tokenizes and
    plans the batches and never builds it (``model_factory`` then rebuilds it if asked)."""

    tokenizer: Any
    max_length: int
    device: str
    provenance: dict[str, Any]
    ner_labels: list[str]
    relation_labels: list[str]
    hidden_size: int
    runner: "RadGraphRunner"
    batch_size: int = 32
    word_budget: int = 4096
    bert_config: Any = field(default=None, repr=False)
    model_factory: Callable[[], Any] | None = field(default=None, repr=False)
    _model: Any = field(default=None, repr=False)
    _cache: dict[str, Annotation] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._pieces = WordPiecer(self.tokenizer)

    @property
    def model(self) -> Any:
        if self._model is None:
            self._model = self.model_factory()
        return self._model

    def __call__(self, texts: Sequence[str], progress: bool = False) -> list[Annotation]:
        work = AnnotationWork(self, texts)
        run_local(work, progress)
        return [self._cache[t] for t in texts]

    # ---- the two forward passes (one job each) ------------------------------------------------

    def encode_segments(self, segs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """One batch of wordpiece segments through the encoder: each segment's vectors (n, H)."""
        import torch

        encoder = self.model.encoder
        tok = self.tokenizer
        cls_id, sep_id, pad_id = tok.cls_token_id, tok.sep_token_id, tok.pad_token_id or 0
        width = max(len(piece_ids) for piece_ids in segs) + 2
        ids = np.full((len(segs), width), pad_id, dtype=np.int64)
        mask = np.zeros((len(segs), width), dtype=np.int64)
        for row, piece_ids in enumerate(segs):
            n = len(piece_ids)
            ids[row, 0], ids[row, 1:n + 1], ids[row, n + 1] = cls_id, piece_ids, sep_id
            mask[row, :n + 2] = 1
        with torch.inference_mode():
            ids_t = torch.from_numpy(ids).to(self.device)
            mask_t = torch.from_numpy(mask).to(self.device)
            hidden = encoder(input_ids=ids_t, attention_mask=mask_t.float()).last_hidden_state.float().cpu()
        return [hidden[row, 1:len(piece_ids) + 1].numpy().copy() for row, piece_ids in enumerate(segs)]

    def find_spans(self, payload: tuple) -> tuple[np.ndarray, np.ndarray]:
        """One span batch: (entities, relations) with the batch's own doc index in column 0."""
        import torch

        from rexrank.metrics.scorers.radgraph.model import word_embeddings

        pieces, first, count, n_words = payload
        with torch.inference_mode():
            flat = word_embeddings(torch.from_numpy(pieces).to(self.device), torch.from_numpy(first).to(self.device),
                                   torch.from_numpy(count).to(self.device))
            lengths = torch.tensor(n_words, device=self.device)
            words = torch.nn.utils.rnn.pad_sequence(list(flat.split(list(n_words))), batch_first=True)
            entities, relations = self.model.predict(words, lengths)
        return entities.numpy(), relations.numpy()

    def decode(self, docs: list[EncodedDoc], found_e: list[np.ndarray], found_r: list[np.ndarray]) -> list[Annotation]:
        ner, rel = self.ner_labels, self.relation_labels
        ents = np.concatenate(found_e) if found_e else np.zeros((0, 4), np.int64)
        rels = np.concatenate(found_r) if found_r else np.zeros((0, 6), np.int64)
        ents = ents[np.lexsort((ents[:, 2], ents[:, 1], ents[:, 0]))]
        rels = rels[np.lexsort(tuple(rels[:, k] for k in range(5, -1, -1)))]
        e_bounds = np.searchsorted(ents[:, 0], np.arange(len(docs) + 1))
        r_bounds = np.searchsorted(rels[:, 0], np.arange(len(docs) + 1))
        result = []
        for i, doc in enumerate(docs):
            e = ents[e_bounds[i]:e_bounds[i + 1]].tolist()
            entities = tuple((s, t, ner[lab]) for _, s, t, lab in e)
            spans = {(s, t) for s, t, _ in entities}
            relations = tuple((s1, e1, s2, e2, rel[lab]) for _, s1, e1, s2, e2, lab in rels[r_bounds[i]:r_bounds[i + 1]].tolist()
                              if (s1, e1) in spans and (s2, e2) in spans)
            result.append(Annotation(tuple(doc.words), entities, relations))
        return result


class AnnotationWork(Work):
    """Annotate the distinct ``texts`` not yet cached: the encoder over every report's wordpiece
    segments (longest first, ``batch_size`` per pass), then span scoring over reports sorted by
    word count (a batch grows while reports x longest stays within ``word_budget`` words)."""

    def __init__(self, annotator: RadGraphAnnotator, texts: Sequence[str]):
        self.ann = annotator
        self.new = [t for t in dict.fromkeys(texts) if t not in annotator._cache]
        super().__init__(len(self.new))
        self.docs = annotator._pieces.encode(self.new) if self.new else []
        self.piece_start = np.concatenate(([0], np.cumsum([len(d.piece_ids) for d in self.docs])[:-1])).astype(np.int64) \
            if self.docs else np.zeros(0, np.int64)
        self.segs: list[tuple[int, np.ndarray]] = []  # (global first piece, ids)
        self.seg_doc: list[int] = []
        for k, doc in enumerate(self.docs):
            for a, b in segments(len(doc.piece_ids), annotator.max_length):
                self.segs.append((int(self.piece_start[k]) + a, doc.piece_ids[a:b]))
                self.seg_doc.append(k)
        total = sum(len(d.piece_ids) for d in self.docs)
        self.pieces = np.zeros((total, annotator.hidden_size), dtype=np.float32)
        self.lost: set[int] = set()  # docs a failed job left without annotation
        for k, doc in enumerate(self.docs):
            if not doc.words:
                self._store(k, Annotation(tuple(doc.words)))

    def _store(self, doc: int, annotation: Annotation) -> None:
        self.ann._cache[self.new[doc]] = annotation

    def stages(self):
        ann = self.ann
        order = sorted(range(len(self.segs)), key=lambda i: -len(self.segs[i][1]))
        jobs = [Job(tuple(("seg", i) for i in batch), [self.segs[i][1] for i in batch])
                for batch in (order[i:i + ann.batch_size] for i in range(0, len(order), ann.batch_size))]
        if jobs:
            yield Stage("RadGraph encoder", replace(ann.runner, part="encoder"), jobs)
        docs = self.docs
        with_words = [i for i, d in enumerate(docs) if d.words and i not in self.lost]
        order = sorted(with_words, key=lambda i: len(docs[i].words))
        batches, lo = [], 0
        while lo < len(order):
            hi = lo + 1  # grow the batch while (batch × longest) stays within the word budget
            while hi < len(order) and (hi + 1 - lo) * len(docs[order[hi]].words) <= ann.word_budget:
                hi += 1
            batches.append(order[lo:hi])
            lo = hi
        if batches:
            yield Stage("RadGraph spans", replace(ann.runner, part="spans"), [self._span_job(b) for b in batches],
                        split=lambda job: [self._span_job([doc]) for _, doc in job.items])

    def _span_job(self, batch: list[int]) -> Job:
        """A span batch with its reports' wordpiece vectors (row 0 is the first vector of the
        whole call, where a word without wordpieces points, as in one process)."""
        docs, start = self.docs, self.piece_start
        parts, firsts, offset = [self.pieces[:1]], [], 1
        for i in batch:
            n = len(docs[i].piece_ids)
            parts.append(self.pieces[start[i]:start[i] + n])
            firsts.append(docs[i].word_first + offset)
            offset += n
        payload = (np.concatenate(parts), np.concatenate(firsts).astype(np.int64),
                   np.concatenate([docs[i].word_count for i in batch]).astype(np.int64),
                   [len(docs[i].words) for i in batch])
        return Job(tuple(("doc", i) for i in batch), payload)

    def absorb(self, job: Job, outputs) -> None:
        kind = job.items[0][0]
        if kind == "seg":
            for (_, i), vectors in zip(job.items, outputs):
                first = self.segs[i][0]
                self.pieces[first:first + len(vectors)] = vectors
            return
        entities, relations = outputs
        batch = [i for _, i in job.items]
        for doc, annotation in zip(batch, self.ann.decode([self.docs[i] for i in batch], [entities], [relations])):
            self._store(doc, annotation)

    def lost_docs(self, job: Job) -> set[int]:
        return {self.seg_doc[i] if kind == "seg" else i for kind, i in job.items}

    def fail(self, job: Job, error: str) -> None:
        for doc in self.lost_docs(job):
            self.lost.add(doc)
            self.failures.setdefault(doc, error)

    def result(self) -> list[Annotation | None]:
        return [self.ann._cache.get(t) for t in self.new]


@dataclass(frozen=True)
class RadGraphRunner(Runner):
    """Where RadGraph's forward passes run; ``part`` says which one (encoder or span scoring)."""

    resolved: models.ResolvedModel
    encoder: str | None
    device: str
    dtype: str
    batch_size: int = 32
    part: str = "encoder"

    def key(self) -> tuple:
        return ("radgraph", str(self.resolved.path), self.encoder, self.device, self.dtype)

    def build(self) -> RadGraphAnnotator:
        return _build_annotator(self, planning=False)

    def run(self, annotator: RadGraphAnnotator, job: Job):
        return annotator.encode_segments(job.payload) if self.part == "encoder" else annotator.find_spans(job.payload)


def load_annotator(model: str | None = None, encoder: str | None = None, device: str | None = None,
                   batch_size: int = 32, half: bool = False) -> RadGraphAnnotator:
    """The RadGraph annotator for ``model`` (default: the registry's RRG_scorers radgraph.tar.gz;
    else ``repo@revision``, a folder, or a ``radgraph.tar.gz`` path), loaded once per process and device."""
    from rexrank.metrics.registry import RRG_SCORERS_RADGRAPH

    if model and os.path.isfile(model):  # a radgraph.tar.gz on disk
        path = Path(model).resolve()
        resolved = models.ResolvedModel(models.ModelRef(str(path), "local"), path, "local", "local")
    else:
        ref = models.parse_model_spec(model, RRG_SCORERS_RADGRAPH) if model else RRG_SCORERS_RADGRAPH
        resolved = models.resolve(ref)
    device = models.pick_device(device)
    dtype = str(models.default_dtype(device, half)).replace("torch.", "")  # fp32 unless half=True on CUDA
    runner = RadGraphRunner(resolved, encoder, device, dtype, batch_size)
    planning = models.planning_remotely()
    annotator = models.load_once(runner.key(), lambda: _build_annotator(runner, planning))
    annotator.batch_size = batch_size
    return annotator


def _build_annotator(runner: RadGraphRunner, planning: bool) -> RadGraphAnnotator:
    """The annotator of ``runner``; ``planning``: without the weights (a Ray driver runs no model)."""
    import torch

    from rexrank.metrics.registry import PUBMEDBERT

    resolved = runner.resolved if planning else models.locate(runner.resolved)
    dtype = getattr(torch, runner.dtype)
    annotator = _build(read_checkpoint(resolved.path, weights=not planning), resolved, runner.encoder, PUBMEDBERT,
                       runner, dtype)
    annotator.provenance["encoder_dtype"] = runner.dtype
    if planning:
        annotator.model_factory = lambda: _model_of(read_checkpoint(resolved.path), annotator, dtype)
    return annotator


def _build(checkpoint: RadGraphCheckpoint, resolved: models.ResolvedModel, encoder: str | None,
           default_encoder: models.ModelRef, runner: RadGraphRunner, dtype: Any) -> RadGraphAnnotator:
    """The annotator; with the model too when ``checkpoint`` holds the weights."""
    import transformers

    from rexrank.errors import CheckpointMismatchError

    try:
        bert = checkpoint.config["model"]["embedder"]["token_embedders"]["bert"]
        name, max_length = bert["model_name"], int(bert.get("max_length") or 512)
    except (KeyError, TypeError) as err:
        raise CheckpointMismatchError(f"{checkpoint.source}: config.json has no BERT embedder ({err})") from err
    if encoder:
        enc_ref = models.parse_model_spec(encoder, default_encoder)
    elif name == default_encoder.repo_id:
        enc_ref = default_encoder
    else:
        enc_ref = models.parse_model_spec(name, models.ModelRef(name, "main", default_encoder.files))
    enc = models.resolve(enc_ref)
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(enc.path))
    bert_config = transformers.AutoConfig.from_pretrained(str(enc.path))
    labels = checkpoint.labels
    provenance = {"radgraph": resolved.provenance(), "encoder": enc.provenance(), "max_length": max_length}
    annotator = RadGraphAnnotator(tokenizer, max_length, runner.device, provenance,
                                  labels.get("radgraph__ner_labels", []), labels.get("radgraph__relation_labels", []),
                                  int(bert_config.hidden_size), runner, runner.batch_size, bert_config=bert_config)
    if checkpoint.state_dict:
        _model_of(checkpoint, annotator, dtype)
    return annotator


def _model_of(checkpoint: RadGraphCheckpoint, annotator: RadGraphAnnotator, dtype: Any) -> Any:
    """Build the DyGIE model of ``checkpoint`` strictly, on the annotator's device (and set it)."""
    import transformers

    from rexrank.metrics.scorers.radgraph.model import UNUSED_PREFIXES, RadGraphModel
    from rexrank.errors import CheckpointMismatchError

    try:
        model = RadGraphModel(checkpoint.config, checkpoint.labels,
                              transformers.AutoModel.from_config(annotator.bert_config))
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointMismatchError(f"{checkpoint.source}: unsupported RadGraph config or vocabulary: {err}") from err
    models.check_state_dict(model, checkpoint.state_dict, f"RadGraph ({checkpoint.source})",
                            ignore_unexpected=UNUSED_PREFIXES)
    model.to(annotator.device).eval()
    model.encoder.to(dtype)
    annotator.ner_labels, annotator.relation_labels = model.ner_labels, model.relation_labels
    annotator._model = model
    return model
