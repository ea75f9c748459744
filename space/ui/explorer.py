"""The Space's Explore tab: the per-study explorer over every system this Space evaluated.

Systems are the FINISHED requests of the store (re-read on "Refresh systems"); a result is read
from the store only when its system is chosen, and a few are kept in memory.
"""

from __future__ import annotations

import gradio as gr

from rexrank.space.explorer.data import Explorer, Source, load_system
from rexrank.space.explorer.ui import build_explorer
from rexrank.space.store import FINISHED, Store


def store_sources(store: Store) -> list[Source]:
    """One source per FINISHED request, newest first, named so that no two are alike."""
    finished = [r for r in reversed(store.requests()) if r.state == FINISHED]
    labels = [f"{r.name} ({r.dataset}, {r.track})" for r in finished]
    out = []
    for r, label in zip(finished, labels):
        name = label if labels.count(label) == 1 else f"{label} [{r.id}]"

        def load(request_id=r.id, system=r.name):
            record = store.result(request_id)
            if record is None:
                from rexrank.errors import RexrankError

                raise RexrankError(f"the result of request {request_id} is not in the store")
            return load_system(record, system)

        out.append(Source(name, (r.dataset, r.split, r.track), load))
    return out


def explorer_tab(demo: gr.Blocks, store: Store) -> None:
    gr.Markdown("Every study of a system evaluated here: sort and filter by any metric, open one to see the "
                "reports side by side, the labels, entities and analyses behind its scores.")
    build_explorer(Explorer(lambda: store_sources(store)), demo=demo, refreshable=True)
