"""Reports → RadGraph annotations (entities and relations), batched across reports.

Each distinct text is annotated once per process: the annotator keeps what it has seen (the
``CACHE_LIMIT`` most recently used), so the reference side of a test set, or of an RL run's
prompts, costs nothing the second time. Work is sorted by length (encoder
segments by wordpieces, span scoring by words) so padding stays small.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from rexrank.metrics.runtime import models
from rexrank.metrics.scorers.radgraph.checkpoint import RadGraphCheckpoint, read_checkpoint
from rexrank.metrics.scorers.radgraph.text import (EncodedDoc, EncoderLayout, WordPiecer, official_layout, pretokenize,
                                                   special_tokens)
from rexrank.metrics.scorers.radgraph.variants import Variant

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
    """The loaded model, tokenizer and the per-process annotation cache."""

    model: Any
    tokenizer: Any
    max_length: int
    device: str
    provenance: dict[str, Any]
    batch_size: int = 64  # encoder segments per forward pass, at most
    max_tokens: int = 1024  # padded wordpieces per forward pass, at most
    split: Callable[[str], list[str]] = pretokenize  # the model type's pre-tokenisation
    word_budget: int = 4096  # words per span-scoring batch (batch × longest report)
    _cache: OrderedDict[str, Annotation] = field(default_factory=OrderedDict)  # least recently used first

    adds_special_tokens: bool = True  # what build_inputs_with_special_tokens does (see text.official_layout)

    def __post_init__(self) -> None:
        self._pieces = WordPiecer(self.tokenizer, self.split)
        self._start_ids, self._end_ids = special_tokens(self.tokenizer)

    def __call__(self, texts: Sequence[str], progress: bool = False) -> list[Annotation]:
        new = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if new:
            self._cache.update(zip(new, self._annotate(new, progress)))
        out = [self._cache[t] for t in texts]
        for t in texts:  # a reference that comes back every step stays; a one-off completion ages out
            self._cache.move_to_end(t)
        while len(self._cache) > CACHE_LIMIT:
            self._cache.popitem(last=False)
        return out

    # ---- pipeline ----------------------------------------------------------------------------

    def _annotate(self, texts: list[str], progress: bool) -> list[Annotation]:
        import torch

        docs = self._pieces.encode(texts)
        layouts = [official_layout(d.piece_ids, self.max_length, self._start_ids, self._end_ids, self.adds_special_tokens)
                   for d in docs]
        pieces = self._encode(layouts, progress)
        out_start = np.concatenate(([0], np.cumsum([len(x.take) for x in layouts])[:-1])).astype(np.int64)
        found_e: list[np.ndarray] = []
        found_r: list[np.ndarray] = []
        with_words = [i for i, d in enumerate(docs) if d.words]
        order = sorted(with_words, key=lambda i: len(docs[i].words))
        from rexrank.metrics.scorers.radgraph.model import word_embeddings

        def offsets(i: int) -> tuple[np.ndarray, np.ndarray]:
            """Word spans into the embedder's output, shifted past the start tokens and cut at its
            end (allennlp's batched_span_select masks what lies beyond)."""
            first = docs[i].word_first + len(self._start_ids)
            stop = np.minimum(first + docs[i].word_count, len(layouts[i].take))
            count = np.where(docs[i].word_count > 0, np.maximum(stop - first, 0), 0)
            return first + out_start[i], count

        lo = 0
        while lo < len(order):
            hi = lo + 1  # grow the batch while (batch × longest) stays within the word budget
            while hi < len(order) and (hi + 1 - lo) * len(docs[order[hi]].words) <= self.word_budget:
                hi += 1
            batch = order[lo:hi]
            lo = hi
            spans = [offsets(i) for i in batch]
            first = torch.from_numpy(np.concatenate([f for f, _ in spans]))
            count = torch.from_numpy(np.concatenate([c for _, c in spans]))
            flat = word_embeddings(pieces, first.to(self.device), count.to(self.device))
            n_words = torch.tensor([len(docs[i].words) for i in batch], device=self.device)
            words = torch.nn.utils.rnn.pad_sequence(list(flat.split(n_words.tolist())), batch_first=True)
            entities, relations = self.model.predict(words, n_words)
            ids = np.asarray(batch, dtype=np.int64)
            if len(entities):
                found_e.append(np.concatenate([ids[entities[:, :1].numpy()], entities[:, 1:].numpy()], 1))
            if len(relations):
                found_r.append(np.concatenate([ids[relations[:, :1].numpy()], relations[:, 1:].numpy()], 1))
        return self._decode(docs, found_e, found_r)

    def _encode(self, layouts: list[EncoderLayout], progress: bool):
        """Every report's embedder output (its ``take`` positions), concatenated in report order: (total, H)."""
        import torch

        encoder = self.model.encoder
        pad_id = self.tokenizer.pad_token_id or 0
        rows = []  # (global position of the row's first id, ids)
        base = 0
        for layout in layouts:
            rows += [(base + a, layout.ids[a:b]) for a, b in layout.rows]
            base += len(layout.ids)
        hidden_all = torch.zeros(base, encoder.config.hidden_size, device=self.device)
        from rexrank.metrics.runtime.batching import length_sorted_batches

        batches = list(length_sorted_batches([len(ids) for _, ids in rows], self.batch_size, self.max_tokens))
        if progress:
            from tqdm.auto import tqdm

            batches = tqdm(batches, desc="RadGraph encoder", unit="batch")
        with torch.inference_mode():
            for batch in batches:
                width = len(rows[batch[0]][1])
                ids = np.full((len(batch), width), pad_id, dtype=np.int64)
                mask = np.zeros((len(batch), width), dtype=np.int64)
                dest = []
                for row, i in enumerate(batch):
                    first, row_ids = rows[i]
                    ids[row, :len(row_ids)] = row_ids
                    mask[row, :len(row_ids)] = 1
                    dest.append(np.arange(first, first + len(row_ids)))
                ids_t = torch.from_numpy(ids).to(self.device)
                mask_t = torch.from_numpy(mask).to(self.device)
                hidden = encoder(input_ids=ids_t, attention_mask=mask_t.float()).last_hidden_state
                hidden_all[torch.from_numpy(np.concatenate(dest)).to(self.device)] = hidden[mask_t.bool()].float()
        base = 0
        take = []
        for layout in layouts:
            take.append(layout.take + base)
            base += len(layout.ids)
        index = torch.from_numpy(np.concatenate(take) if take else np.zeros(0, np.int64)).to(self.device)
        return hidden_all[index]

    def _decode(self, docs: list[EncodedDoc], found_e: list[np.ndarray], found_r: list[np.ndarray]) -> list[Annotation]:
        ner, rel = self.model.ner_labels, self.model.relation_labels
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


def load_annotator(model: str | None = None, encoder: str | None = None, device: str | None = None,
                   batch_size: int | None = None, half: bool = False, max_tokens: int | None = None,
                   model_type: str = "radgraph") -> RadGraphAnnotator:
    """The RadGraph annotator of ``model_type`` (radgraph 0.1.18's name: ``radgraph``,
    ``radgraph-xl``, ``modern-radgraph-xl``) for ``model`` (default: the registry's archive of that
    type in StanfordAIMI/RRG_scorers; else ``repo@revision``, a folder, or an archive path),
    loaded once per process and device. Batch sizes default by device
    (:func:`~rexrank.metrics.runtime.batching.batch_defaults`)."""
    from rexrank.metrics.registry import PUBMEDBERT, radgraph_archive
    from rexrank.metrics.runtime.batching import batch_defaults
    from rexrank.metrics.scorers.radgraph.variants import get_variant

    variant = get_variant(model_type)
    default_ref = radgraph_archive(variant.model_type)
    if model and os.path.isfile(model):  # an archive on disk
        path = Path(model).resolve()
        resolved = models.ResolvedModel(models.ModelRef(str(path), "local"), path, "local", "local")
    else:
        ref = models.parse_model_spec(model, default_ref) if model else default_ref
        resolved = models.resolve(ref)
    device = models.pick_device(device)
    dtype = models.default_dtype(device, half)  # fp32 unless half=True on CUDA (the encoder only)
    batch_size, max_tokens = batch_defaults(device, batch_size, max_tokens)

    def build() -> RadGraphAnnotator:
        checkpoint = read_checkpoint(resolved.path, variant.archive)
        annotator = _build(checkpoint, resolved, encoder, PUBMEDBERT, device, batch_size, variant)
        annotator.model.encoder.to(dtype)
        annotator.provenance["encoder_dtype"] = str(dtype).replace("torch.", "")
        return annotator

    key = ("radgraph", variant.model_type, str(resolved.path), encoder, device, str(dtype))
    annotator = models.load_once(key, build)
    annotator.batch_size, annotator.max_tokens = batch_size, max_tokens
    annotator.word_budget = WORD_BUDGET_CUDA if device.startswith("cuda") else WORD_BUDGET_CPU
    return annotator


# Config and tokenizer files of an encoder the archive names (its weights come from weights.th);
# snapshot_download skips the patterns a repo does not have.
ENCODER_FILES = ("config.json", "vocab.txt", "vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json",
                 "special_tokens_map.json")


def _build(checkpoint: RadGraphCheckpoint, resolved: models.ResolvedModel, encoder: str | None,
           default_encoder: models.ModelRef, device: str, batch_size: int, variant: Variant) -> RadGraphAnnotator:
    import transformers

    from rexrank.metrics.scorers.radgraph.model import UNUSED_PREFIXES, RadGraphModel
    from rexrank.metrics.scorers.radgraph.text import adds_special_tokens_in_v4
    from rexrank.errors import CheckpointMismatchError

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
    try:
        model = RadGraphModel(checkpoint.config, checkpoint.labels, transformers.AutoModel.from_config(bert_config),
                              dataset=variant.model_type)
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointMismatchError(f"{checkpoint.source}: unsupported {variant.model_type} config or vocabulary: "
                                      f"{err}. Is it the {variant.archive} of model_type={variant.model_type!r}?") from err
    models.check_state_dict(model, checkpoint.state_dict, f"RadGraph {variant.model_type} ({checkpoint.source})",
                            ignore_unexpected=UNUSED_PREFIXES)
    model.to(device).eval()
    provenance = {"radgraph": resolved.provenance(), "encoder": enc.provenance(), "encoder_name_in_config": name,
                  "encoder_architecture": type(model.encoder).__name__, "max_length": max_length,
                  "model_type": variant.model_type}
    adds = adds_special_tokens_in_v4(_json(enc.path / "tokenizer_config.json"), getattr(bert_config, "model_type", None))
    provenance["special_tokens_per_segment"] = adds
    return RadGraphAnnotator(model, tokenizer, max_length, device, provenance, batch_size, split=variant.pretokenize,
                             adds_special_tokens=adds)


def _json(path: Path) -> dict:
    import json

    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
