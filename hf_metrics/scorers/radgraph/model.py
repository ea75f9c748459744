"""DyGIE++ inference for RadGraph, in plain torch, batched across reports.

The module tree mirrors the parameter names of the official checkpoint (``weights.th`` of
radgraph 0.1.18's ``DyGIE``), so one strict key check proves we run exactly its weights. Only
the parts that shape RadGraph's output are run: the BERT encoder with word pooling, the
endpoint span extractor, the NER scorer and the relation module (mention pruner + pair
scorer). Coreference and events are off in RadGraph's config (loss weight 0, ``coref_prop``
0); their weights are in the file but never used, and a config that turns them on is refused.

Batching changes no result: every report's spans, top-k pruning and pair scores are its own;
padding is masked exactly where the official per-report code would not see it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

UNUSED_PREFIXES = ("_coref.", "_events.")  # present in weights.th, off in RadGraph's config


class FeedForward(nn.Module):
    """allennlp ``FeedForward``: Linear then ReLU on every layer (dropout is off at inference)."""

    def __init__(self, input_dim: int, num_layers: int, hidden_dim: int):
        super().__init__()
        dims = [input_dim] + [hidden_dim] * num_layers
        self._linear_layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.output_dim = hidden_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self._linear_layers:
            x = torch.relu(layer(x))
        return x


class _Wrapped(nn.Module):
    """allennlp ``TimeDistributed``: a reshape only; kept for the ``._module.`` key names."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self._module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._module(x)


def _scorer(ff: FeedForward, out_dim: int) -> nn.Sequential:
    return nn.Sequential(_Wrapped(ff), _Wrapped(nn.Linear(ff.output_dim, out_dim)))


class _Holder(nn.Module):
    """A named node of the official module tree (no computation of its own)."""

    def __init__(self, **children: nn.Module):
        super().__init__()
        for name, child in children.items():
            self.add_module(name, child)


class RadGraphModel(nn.Module):
    """The DyGIE model of ``radgraph.tar.gz``, for inference on one-sentence reports."""

    def __init__(self, config: dict[str, Any], labels: dict[str, list[str]], encoder: nn.Module,
                 dataset: str = "radgraph"):
        super().__init__()
        model = config["model"]
        weights = model.get("loss_weights", {})
        coref = model.get("modules", {}).get("coref", {})
        if weights.get("coref", 0) > 0 or weights.get("events", 0) > 0 or coref.get("coref_prop", 0) > 0:
            raise ValueError("this RadGraph config enables coreference or events, which RadGraph does not use "
                             "and this implementation does not run")
        if weights.get("ner", 0) <= 0 or weights.get("relation", 0) <= 0:
            raise ValueError("this RadGraph config turns NER or relation extraction off")
        ff = model["feedforward_params"]
        feature_size = int(model["feature_size"])
        self.max_span_width = int(model["max_span_width"])
        self.spans_per_word = float(model["modules"]["relation"]["spans_per_word"])
        hidden = int(encoder.config.hidden_size)
        span_dim = 2 * hidden + feature_size

        def make_ff(input_dim: int) -> FeedForward:
            return FeedForward(input_dim, int(ff["num_layers"]), int(ff["hidden_dims"]))

        self._endpoint_span_extractor = _Holder(
            _span_width_embedding=nn.Embedding(self.max_span_width, feature_size))
        self._embedder = _Holder(token_embedder_bert=_Holder(_matched_embedder=_Holder(transformer_model=encoder)))
        ner_spaces = [ns for ns in labels if "ner_labels" in ns]
        rel_spaces = [ns for ns in labels if "relation_labels" in ns]
        self._ner = _Holder(_ner_scorers=nn.ModuleDict(
            {ns: _scorer(make_ff(span_dim), len(labels[ns]) - 1) for ns in ner_spaces}))
        self._relation = _Holder(
            _mention_pruners=nn.ModuleDict({ns: _Holder(_scorer=_scorer(make_ff(span_dim), 1)) for ns in rel_spaces}),
            _relation_feedforwards=nn.ModuleDict({ns: make_ff(3 * span_dim) for ns in rel_spaces}),
            _relation_scorers=nn.ModuleDict({ns: nn.Linear(int(ff["hidden_dims"]), len(labels[ns]))
                                             for ns in rel_spaces}))
        self.ner_space, self.rel_space = f"{dataset}__ner_labels", f"{dataset}__relation_labels"
        if self.ner_space not in labels or self.rel_space not in labels:
            raise ValueError(f"the vocabulary has no {self.ner_space!r} / {self.rel_space!r} namespace")
        if labels[self.ner_space][0] != "":
            raise ValueError("the NER vocabulary must have the null label '' at index 0")
        self.ner_labels = labels[self.ner_space]
        self.relation_labels = labels[self.rel_space]
        self.eval()

    @property
    def encoder(self) -> nn.Module:
        return self._embedder.token_embedder_bert._matched_embedder.transformer_model

    # ---- spans -------------------------------------------------------------------------------

    def span_template(self, n_words: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """(starts, ends) of every span of a ``n_words`` sentence, in allennlp's order."""
        w = self.max_span_width
        starts = torch.arange(n_words, device=device).repeat_interleave(w)
        ends = starts + torch.arange(w, device=device).repeat(n_words)
        keep = ends < n_words
        return starts[keep], ends[keep]

    @torch.inference_mode()
    def predict(self, words: torch.Tensor, n_words: torch.Tensor, pair_chunk: int = 8192
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """NER and relations for a batch of reports.

        ``words``: (B, N, H) word embeddings, ``n_words``: (B,) real lengths.
        Returns ``entities`` (E, 4) = (doc, start, end, label index ≥ 1) and
        ``relations`` (R, 6) = (doc, start1, end1, start2, end2, relation label index), both on CPU.
        """
        device = words.device
        batch, n_max, _ = words.shape
        starts, ends = self.span_template(n_max, device)
        span_mask = ends.unsqueeze(0) < n_words.unsqueeze(1)  # (B, S)
        width = self._endpoint_span_extractor._span_width_embedding(ends - starts)
        spans = torch.cat([words[:, starts], words[:, ends], width.unsqueeze(0).expand(batch, -1, -1)], -1)

        # Scorers run on real spans only (no padding); NER's null label scores 0.
        doc_of, span_of = span_mask.nonzero(as_tuple=True)
        real = spans[doc_of, span_of]
        ner = self._ner._ner_scorers[self.ner_space](real)
        label = torch.cat([ner.new_zeros(len(ner), 1), ner], -1).argmax(-1)
        hit = label != 0
        doc, span = doc_of[hit], span_of[hit]
        entities = torch.stack([doc, starts[span], ends[span], label[hit]], 1)

        # Relations: keep the ceil(n * spans_per_word) best spans by mention score, per report.
        mention = spans.new_full(span_mask.shape, -1e20)  # padding is never kept
        mention[doc_of, span_of] = self._relation._mention_pruners[self.rel_space]._scorer(real).squeeze(-1)
        keep = torch.ceil(n_words.float() * self.spans_per_word).long()
        k_max = max(int(keep.max().item()), 1)
        top = mention.topk(k_max, 1).indices  # (B, K), best first
        slot_ok = torch.arange(k_max, device=device).unsqueeze(0) < keep.unsqueeze(1)
        top = torch.where(slot_ok, top, top.max(1, keepdim=True).values).sort(1).values
        pair_doc, pi, pj = (slot_ok.unsqueeze(2) & slot_ok.unsqueeze(1)).nonzero(as_tuple=True)
        top_emb = spans.gather(1, top.unsqueeze(-1).expand(-1, -1, spans.size(-1)))
        top_score = mention.gather(1, top)
        ff = self._relation._relation_feedforwards[self.rel_space]
        scorer = self._relation._relation_scorers[self.rel_space]
        labels = []
        for lo in range(0, len(pair_doc), pair_chunk):
            d, i, j = pair_doc[lo:lo + pair_chunk], pi[lo:lo + pair_chunk], pj[lo:lo + pair_chunk]
            e1, e2 = top_emb[d, i], top_emb[d, j]
            scores = scorer(ff(torch.cat([e1, e2, e1 * e2], -1)))
            scores = scores + (top_score[d, i] + top_score[d, j]).unsqueeze(-1)
            scores = torch.cat([scores.new_zeros(len(d), 1), scores], -1)
            labels.append(scores.argmax(-1) - 1)
        rel_label = torch.cat(labels) if labels else pair_doc.new_zeros(0)
        hit = rel_label >= 0
        d, s1, s2 = pair_doc[hit], top[pair_doc[hit], pi[hit]], top[pair_doc[hit], pj[hit]]
        relations = torch.stack([d, starts[s1], ends[s1], starts[s2], ends[s2], rel_label[hit]], 1)
        return entities.cpu(), relations.cpu()


def word_embeddings(pieces: torch.Tensor, first: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """Mean of each word's wordpiece vectors (zero for a word without wordpieces).

    ``pieces`` (P, H); ``first``/``count`` (W,) → (W, H). Summed over a zero-padded width axis,
    in the same order as allennlp's ``PretrainedTransformerMismatchedEmbedder``.
    """
    if first.numel() == 0 or pieces.size(0) == 0:
        return pieces.new_zeros(first.numel(), pieces.size(-1))
    width = max(int(count.max().item()), 1)
    offsets = torch.arange(width, device=pieces.device)
    mask = offsets.unsqueeze(0) < count.unsqueeze(1)
    gathered = pieces[(first.unsqueeze(1) + offsets) * mask] * mask.unsqueeze(-1)
    total = gathered.sum(1)
    return total / count.clamp(min=1).unsqueeze(-1).to(total.dtype)
