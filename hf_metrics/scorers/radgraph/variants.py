"""The RadGraph models of radgraph 0.1.18 we run: what differs between ``model_type`` values.

All three are the same DyGIE++ architecture (``radgraph/radgraph.py``); they differ in the
archive in ``StanfordAIMI/RRG_scorers`` (``MODEL_MAPPING``), the encoder its ``config.json``
names (read at run time, never assumed here), the vocabulary namespace prefix (DyGIE picks
``f"{dataset}__ner_labels"`` and ``preprocess_reports`` sets ``dataset`` to the model type) and
the pre-tokenisation (``preprocess_reports``: the regex split for ``radgraph``; for every other
type, ``radgraph_xl_preprocess_report``, because its ``elif model_type == "radgraph-xl" or
"modern-radgraph-xl"`` is always true).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from rexrank.metrics.scorers.radgraph import text


@dataclass(frozen=True)
class Variant:
    model_type: str  # radgraph 0.1.18's name, also the vocabulary namespace prefix
    archive: str  # file in StanfordAIMI/RRG_scorers
    pretokenize: Callable[[str], list[str]]

    @property
    def metric(self) -> str:
        """The registry name of the metric that runs this model."""
        return self.model_type.replace("-", "_")


VARIANTS: dict[str, Variant] = {v.model_type: v for v in (
    Variant("radgraph", "radgraph.tar.gz", text.pretokenize),
    Variant("radgraph-xl", "radgraph-xl.tar.gz", text.pretokenize_xl),
    Variant("modern-radgraph-xl", "modern-radgraph-xl.tar.gz", text.pretokenize_xl),
)}


def get_variant(model_type: str) -> Variant:
    """The variant named exactly as radgraph 0.1.18 names it (its assert is case-sensitive too)."""
    try:
        return VARIANTS[model_type]
    except KeyError:
        from rexrank.errors import InputError

        raise InputError(f"unknown RadGraph model_type {model_type!r}; known: {', '.join(VARIANTS)} "
                         "(echograph is not a chest X-ray model and is not supported)") from None
