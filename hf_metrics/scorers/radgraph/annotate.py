"""Reports → RadGraph annotations (entities and relations), batched across reports.

Each distinct text is annotated once per process: the annotator keeps what it has seen (the
``CACHE_LIMIT`` most recently used), so the reference side of a test set, or of an RL run's
prompts, costs nothing the second time. Work is sorted by length (encoder
segments by wordpieces, span scoring by words) so padding stays small. The work is planned as
jobs (:mod:`rexrank.metrics.runtime.work`) that run here or on Ray actors.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from rexrank.metrics.runtime import models
from rexrank.metrics.runtime.work import Job, Runner, Stage, Work, run_local
from rexrank.metrics.scorers.radgraph.checkpoint import RadGraphCheckpoint, read_checkpoint
from rexrank.metrics.scorers.radgraph.text import (EncodedDoc, EncoderLayout, WordPiecer, official_layout, pretokenize,
                                                   special_tokens)
from rexrank.metrics.scorers.radgraph.variants import Variant, get_variant

logger = logging.getLogger(__name__)
WORD_BUDGET_CPU, WORD_BUDGET_CUDA = 4096, 32768  # words per span-scoring batch (spans: 8 per word)
CACHE_LIMIT = 200_000  # distinct reports whose annotations are kept (RL training scores new texts every step)

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
    batch_size: int = 64  # encoder segments per forward pass, at most
    max_tokens: int = 1024  # padded wordpieces per forward pass, at most
    split: Callable[[str], list[str]] = pretokenize  # the model type's pre-tokenisation
    word_budget: int = 4096  # words per span-scoring batch (batch × longest report)
    adds_special_tokens: bool = True  # what build_inputs_with_special_tokens does (see text.official_layout)
    bert_config: Any = field(default=None, repr=False)
    model_factory: Callable[[], Any] | None = field(default=None, repr=False)
    _model: Any = field(default=None, repr=False)
    _cache: OrderedDict[str, Annotation] = field(default_factory=OrderedDict)  # least recently used first

    def __post_init__(self) -> None:
        self._pieces = WordPiecer(self.tokenizer, self.split)
        self._start_ids, self._end_ids = special_tokens(self.tokenizer)

    @property
    def model(self) -> Any:
        if self._model is None:
            self._model = self.model_factory()
        return self._model

    def __call__(self, texts: Sequence[str], progress: bool = False) -> list[Annotation]:
        run_local(AnnotationWork(self, texts), progress)
        out = [self._cache[t] for t in texts]
        self.keep(texts)
        return out

    def keep(self, texts: Sequence[str]) -> None:
        """Mark ``texts`` as just used and drop the least recently used beyond ``CACHE_LIMIT``:
        a reference that comes back every step stays; a one-off completion ages out."""
        for t in texts:
            if t in self._cache:
                self._cache.move_to_end(t)
        while len(self._cache) > CACHE_LIMIT:
            self._cache.popitem(last=False)

    # ---- the two forward passes (one job each) ------------------------------------------------

    def encode_rows(self, rows: Sequence[np.ndarray]) -> list[np.ndarray]:
        """One batch of encoder rows (special tokens included, as the layout gives them): each
        row's vectors (n, H), float32."""
        import torch

        encoder = self.model.encoder
        pad_id = self.tokenizer.pad_token_id or 0
        width = max(len(row_ids) for row_ids in rows)
        ids = np.full((len(rows), width), pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for row, row_ids in enumerate(rows):
            ids[row, :len(row_ids)] = row_ids
            mask[row, :len(row_ids)] = 1
        with torch.inference_mode():
            ids_t = torch.from_numpy(ids).to(self.device)
            mask_t = torch.from_numpy(mask).to(self.device)
            hidden = encoder(input_ids=ids_t, attention_mask=mask_t.float()).last_hidden_state.float().cpu()
        return [hidden[row, :len(row_ids)].numpy().copy() for row, row_ids in enumerate(rows)]

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
    """Annotate the distinct ``texts`` not yet cached: the encoder over every report's rows as
    radgraph 0.1.18 lays them out (:func:`~rexrank.metrics.scorers.radgraph.text.official_layout`;
    longest first, at most ``batch_size`` rows and ``max_tokens`` padded positions per pass), then
    span scoring over reports sorted by word count (a batch grows while reports x longest stays
    within ``word_budget`` words)."""

    def __init__(self, annotator: RadGraphAnnotator, texts: Sequence[str]):
        self.ann = annotator
        self.new = [t for t in dict.fromkeys(texts) if t not in annotator._cache]
        super().__init__(len(self.new))
        self.docs = annotator._pieces.encode(self.new) if self.new else []
        self.layouts: list[EncoderLayout] = [
            official_layout(d.piece_ids, annotator.max_length, annotator._start_ids, annotator._end_ids,
                            annotator.adds_special_tokens) for d in self.docs]
        sizes = [len(layout.ids) for layout in self.layouts]
        self.id_start = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64) if sizes else np.zeros(0, np.int64)
        self.rows: list[tuple[int, np.ndarray]] = []  # (global position of the row's first id, ids)
        self.row_doc: list[int] = []
        for k, layout in enumerate(self.layouts):
            for a, b in layout.rows:
                self.rows.append((int(self.id_start[k]) + a, layout.ids[a:b]))
                self.row_doc.append(k)
        self.hidden = np.zeros((sum(sizes), annotator.hidden_size), dtype=np.float32)
        self.lost: set[int] = set()  # docs a failed job left without annotation
        for k, doc in enumerate(self.docs):
            if not doc.words:
                self._store(k, Annotation(tuple(doc.words)))

    def _store(self, doc: int, annotation: Annotation) -> None:
        self.ann._cache[self.new[doc]] = annotation

    def stages(self):
        from rexrank.metrics.runtime.batching import length_sorted_batches

        ann = self.ann
        jobs = [Job(tuple(("row", i) for i in batch), [self.rows[i][1] for i in batch])
                for batch in length_sorted_batches([len(ids) for _, ids in self.rows], ann.batch_size, ann.max_tokens)]
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
        """A span batch with its reports' embedder output (row 0 is a placeholder where masked
        gathers point). Word offsets are shifted past the start tokens and cut at the output's
        end (allennlp's batched_span_select masks what lies beyond)."""
        docs, n_start = self.docs, len(self.ann._start_ids)
        parts = [self.hidden[:1] if len(self.hidden) else np.zeros((1, self.ann.hidden_size), np.float32)]
        firsts, counts, offset = [], [], 1
        for i in batch:
            layout = self.layouts[i]
            parts.append(self.hidden[self.id_start[i] + layout.take])
            first = docs[i].word_first + n_start
            stop = np.minimum(first + docs[i].word_count, len(layout.take))
            counts.append(np.where(docs[i].word_count > 0, np.maximum(stop - first, 0), 0))
            firsts.append(first + offset)
            offset += len(layout.take)
        payload = (np.concatenate(parts), np.concatenate(firsts).astype(np.int64),
                   np.concatenate(counts).astype(np.int64), [len(docs[i].words) for i in batch])
        return Job(tuple(("doc", i) for i in batch), payload)

    def absorb(self, job: Job, outputs) -> None:
        kind = job.items[0][0]
        if kind == "row":
            for (_, i), vectors in zip(job.items, outputs):
                first = self.rows[i][0]
                self.hidden[first:first + len(vectors)] = vectors
            return
        entities, relations = outputs
        batch = [i for _, i in job.items]
        for doc, annotation in zip(batch, self.ann.decode([self.docs[i] for i in batch], [entities], [relations])):
            self._store(doc, annotation)

    def lost_docs(self, job: Job) -> set[int]:
        return {self.row_doc[i] if kind == "row" else i for kind, i in job.items}

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
    batch_size: int = 64
    part: str = "encoder"
    model_type: str = "radgraph"

    def key(self) -> tuple:
        return ("radgraph", self.model_type, str(self.resolved.path), self.encoder, self.device, self.dtype)

    def build(self) -> RadGraphAnnotator:
        return _build_annotator(self, planning=False)

    def run(self, annotator: RadGraphAnnotator, job: Job):
        return annotator.encode_rows(job.payload) if self.part == "encoder" else annotator.find_spans(job.payload)


def load_annotator(model: str | None = None, encoder: str | None = None, device: str | None = None,
                   batch_size: int | None = None, half: bool = False, max_tokens: int | None = None,
                   model_type: str = "radgraph") -> RadGraphAnnotator:
    """The RadGraph annotator of ``model_type`` (radgraph 0.1.18's name: ``radgraph``,
    ``radgraph-xl``, ``modern-radgraph-xl``) for ``model`` (default: the registry's archive of that
    type in StanfordAIMI/RRG_scorers; else ``repo@revision``, a folder, or an archive path),
    loaded once per process and device. Batch sizes default by device
    (:func:`~rexrank.metrics.runtime.batching.batch_defaults`)."""
    from rexrank.metrics.registry import radgraph_archive
    from rexrank.metrics.runtime.batching import batch_defaults

    variant = get_variant(model_type)
    default_ref = radgraph_archive(variant.model_type)
    if model and os.path.isfile(model):  # an archive on disk
        path = Path(model).resolve()
        resolved = models.ResolvedModel(models.ModelRef(str(path), "local"), path, "local", "local")
    else:
        ref = models.parse_model_spec(model, default_ref) if model else default_ref
        resolved = models.resolve(ref)
    device = models.pick_device(device)
    dtype = str(models.default_dtype(device, half)).replace("torch.", "")  # fp32 unless half=True on CUDA
    batch_size, max_tokens = batch_defaults(device, batch_size, max_tokens)
    runner = RadGraphRunner(resolved, encoder, device, dtype, batch_size, model_type=variant.model_type)
    planning = models.planning_remotely()
    annotator = models.load_once(runner.key(), lambda: _build_annotator(runner, planning))
    annotator.batch_size, annotator.max_tokens = batch_size, max_tokens
    annotator.word_budget = WORD_BUDGET_CUDA if device.startswith("cuda") else WORD_BUDGET_CPU
    return annotator


def _build_annotator(runner: RadGraphRunner, planning: bool) -> RadGraphAnnotator:
    """The annotator of ``runner``; ``planning``: without the weights (a Ray driver runs no model)."""
    import torch

    from rexrank.metrics.registry import PUBMEDBERT

    variant = get_variant(runner.model_type)
    resolved = runner.resolved if planning else models.locate(runner.resolved)
    dtype = getattr(torch, runner.dtype)
    annotator = _build(read_checkpoint(resolved.path, variant.archive, weights=not planning), resolved, runner.encoder,
                       PUBMEDBERT, runner, dtype, variant)
    annotator.provenance["encoder_dtype"] = runner.dtype
    if planning:
        annotator.model_factory = lambda: _model_of(read_checkpoint(resolved.path, variant.archive), annotator, dtype,
                                                    variant)
    return annotator


# Config and tokenizer files of an encoder the archive names (its weights come from weights.th);
# snapshot_download skips the patterns a repo does not have.
ENCODER_FILES = ("config.json", "vocab.txt", "vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json",
                 "special_tokens_map.json")


def _build(checkpoint: RadGraphCheckpoint, resolved: models.ResolvedModel, encoder: str | None,
           default_encoder: models.ModelRef, runner: RadGraphRunner, dtype: Any, variant: Variant) -> RadGraphAnnotator:
    """The annotator; with the model too when ``checkpoint`` holds the weights."""
    import transformers

    from rexrank.errors import CheckpointMismatchError
    from rexrank.metrics.scorers.radgraph.text import adds_special_tokens_in_v4

    try:
        bert = checkpoint.config["model"]["embedder"]["token_embedders"]["bert"]
        name, max_length = bert["model_name"], int(bert.get("max_length") or 512)
    except (KeyError, TypeError) as err:
        raise CheckpointMismatchError(f"{checkpoint.source}: config.json has no BERT embedder ({err})") from err
    if encoder:
        enc_ref = models.parse_model_spec(encoder, models.ModelRef(encoder, "main", ENCODER_FILES))
    elif name == default_encoder.repo_id:
        enc_ref = default_encoder
    else:  # the encoder the archive names (radgraph 0.1.18 asks for it by that name, at its main revision)
        enc_ref = models.parse_model_spec(name, models.ModelRef(name, "main", ENCODER_FILES))
    enc = models.resolve(enc_ref)
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(enc.path))
    bert_config = transformers.AutoConfig.from_pretrained(str(enc.path))
    labels = checkpoint.labels
    adds = adds_special_tokens_in_v4(_json(enc.path / "tokenizer_config.json"), getattr(bert_config, "model_type", None))
    provenance = {"radgraph": resolved.provenance(), "encoder": enc.provenance(), "encoder_name_in_config": name,
                  "encoder_architecture": _architecture(bert_config), "max_length": max_length,
                  "model_type": variant.model_type, "special_tokens_per_segment": adds}
    annotator = RadGraphAnnotator(tokenizer, max_length, runner.device, provenance,
                                  labels.get(f"{variant.model_type}__ner_labels", []),
                                  labels.get(f"{variant.model_type}__relation_labels", []),
                                  int(bert_config.hidden_size), runner, runner.batch_size, split=variant.pretokenize,
                                  adds_special_tokens=adds, bert_config=bert_config)
    if checkpoint.state_dict:
        _model_of(checkpoint, annotator, dtype, variant)
    return annotator


def _model_of(checkpoint: RadGraphCheckpoint, annotator: RadGraphAnnotator, dtype: Any, variant: Variant) -> Any:
    """Build the DyGIE model of ``checkpoint`` strictly, on the annotator's device (and set it)."""
    import transformers

    from rexrank.errors import CheckpointMismatchError
    from rexrank.metrics.scorers.radgraph.model import UNUSED_PREFIXES, RadGraphModel

    try:
        with models.skip_weight_init():  # every weight comes from weights.th, checked strictly below
            encoder = transformers.AutoModel.from_config(annotator.bert_config)
        model = RadGraphModel(checkpoint.config, checkpoint.labels, encoder, dataset=variant.model_type)
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointMismatchError(f"{checkpoint.source}: unsupported {variant.model_type} config or vocabulary: "
                                      f"{err}. Is it the {variant.archive} of model_type={variant.model_type!r}?") from err
    models.check_state_dict(model, checkpoint.state_dict, f"RadGraph {variant.model_type} ({checkpoint.source})",
                            ignore_unexpected=UNUSED_PREFIXES)
    model.to(annotator.device).eval()
    model.encoder.to(dtype)
    annotator.ner_labels, annotator.relation_labels = model.ner_labels, model.relation_labels
    annotator._model = model
    return model


def _architecture(config: Any) -> str:
    """The class ``AutoModel.from_config(config)`` builds, named without building it (a Ray driver has no model)."""
    from transformers.models.auto.modeling_auto import MODEL_MAPPING

    return MODEL_MAPPING[type(config)].__name__


def _json(path: Path) -> dict:
    import json

    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
