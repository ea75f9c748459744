"""The explorer in Gradio: a page of the study table at a time (sorted and filtered on the server),
one study's details when it is chosen. Used by ``rexrank explore`` (:func:`explorer_app`) and by the
Space's Explore tab (:func:`build_explorer` inside its Blocks)."""

from __future__ import annotations

import logging
from typing import Any

import gradio as gr

from rexrank.errors import RexrankError
from rexrank.space.explorer import data, render

logger = logging.getLogger(__name__)

PAGE_SIZE = 25
NO_STUDY = '<p class="rx-note">Choose a study: click a row of the table, or type its id.</p>'


def _frame(columns, rows):
    import pandas as pd

    return pd.DataFrame(rows, columns=columns)


def _bound(text: Any) -> float | None:
    """A range bound typed by the user: blank is none; anything else must be a number."""
    if text is None or str(text).strip() == "":
        return None
    try:
        return float(text)
    except ValueError:
        raise gr.Error(f"{text!r} is not a number: type a bound such as 0.25, or leave it blank") from None


def _metric_choices(system: data.System | None) -> list[tuple[str, str]]:
    return [(data.column_name(m), m) for m in (system.metrics if system else [])]


def build_explorer(explorer: data.Explorer, *, demo: gr.Blocks, prefix: str = "explore", refreshable: bool = False) -> None:
    """The explorer's components and events, in the open Blocks. API endpoints: ``/{prefix}_page``,
    ``/{prefix}_study``, ``/{prefix}_disagreements``."""
    gr.HTML(f"<style>{render.CSS}</style>", padding=False)
    names = explorer.names()
    first = explorer.system(names[0]) if names and not refreshable else None
    with gr.Row():
        system = gr.Dropdown(names, value=None if refreshable or not names else names[0], label="System", allow_custom_value=True,
                             info="choose a system evaluated here" if refreshable else None,
                             elem_id=f"{prefix}-system", scale=3)
        refresh = gr.Button("Refresh systems", size="sm", visible=refreshable, scale=0)
    with gr.Row():
        sort = gr.Dropdown(_metric_choices(first), value=first.metrics[0] if first and first.metrics else None,
                           label="Sort by", allow_custom_value=True, elem_id=f"{prefix}-sort")
        order = gr.Radio([data.WORST, data.BEST], value=data.WORST, label="Order", elem_id=f"{prefix}-order")
        group = gr.Radio([data.ALL, data.NORMAL, data.ABNORMAL], value=data.ALL, label="Studies (CheXbert 'No Finding' of the reference)",
                         elem_id=f"{prefix}-group")
        site = gr.Dropdown([data.ALL] + (data.sites(first) if first else []), value=data.ALL, label="Site", allow_custom_value=True,
                           visible=bool(first and first.sites), elem_id=f"{prefix}-site")
    with gr.Row():
        filter_metric = gr.Dropdown(_metric_choices(first), value=None, label="Filter metric", allow_custom_value=True, elem_id=f"{prefix}-filter-metric")
        low = gr.Textbox(label="from", placeholder="no lower bound", elem_id=f"{prefix}-low")
        high = gr.Textbox(label="to", placeholder="no upper bound", elem_id=f"{prefix}-high")
        search = gr.Textbox(label="Search (study id or text)", elem_id=f"{prefix}-search")
    with gr.Row():
        previous = gr.Button("◀ previous", size="sm", elem_id=f"{prefix}-previous", scale=0)
        number = gr.Number(1, label="Page", precision=0, minimum=1, elem_id=f"{prefix}-page", scale=0, min_width=90)
        following = gr.Button("next ▶", size="sm", elem_id=f"{prefix}-next", scale=0)
        caption = gr.Markdown(elem_id=f"{prefix}-caption")
    table = gr.Dataframe(label="Studies (click a row to open it)", interactive=False, wrap=True, max_height=520,
                         elem_id=f"{prefix}-table")
    page_ids = gr.State([])
    with gr.Row():
        study_id = gr.Textbox(label="Study id", elem_id=f"{prefix}-study-id", scale=3)
        open_button = gr.Button("Open", size="sm", elem_id=f"{prefix}-open", scale=0)
    scores = gr.HTML(NO_STUDY, elem_id=f"{prefix}-scores")
    diff = gr.HTML(elem_id=f"{prefix}-diff")
    with gr.Tabs():
        with gr.Tab("CheXbert labels"):
            labels = gr.HTML(elem_id=f"{prefix}-labels")
        with gr.Tab("RadGraph"):
            graph = gr.HTML(elem_id=f"{prefix}-radgraph")
        with gr.Tab("GREEN"):
            green = gr.HTML(elem_id=f"{prefix}-green")
        with gr.Tab("FineRadScore"):
            fine = gr.HTML(elem_id=f"{prefix}-fineradscore")
        with gr.Tab("Images"):
            images = gr.Gallery(label="Images (when the image folder is known: rexrank explore --data-dir)",
                                columns=3, height=360, elem_id=f"{prefix}-images")
        with gr.Tab("Across systems"):
            across = gr.Dataframe(label="This study in every system on the same test set", interactive=False,
                                  wrap=True, elem_id=f"{prefix}-across")
    with gr.Accordion("Where two systems disagree most", open=False, elem_id=f"{prefix}-compare"):
        with gr.Row():
            other = gr.Dropdown([], label="Compare with", allow_custom_value=True, elem_id=f"{prefix}-other")
            compare_metric = gr.Dropdown(_metric_choices(first), value=first.metrics[0] if first and first.metrics else None,
                                         label="Metric", allow_custom_value=True, elem_id=f"{prefix}-compare-metric")
            compare_button = gr.Button("Show", size="sm", elem_id=f"{prefix}-compare-button", scale=0)
        gaps = gr.Dataframe(label="Largest |difference| first (click a row to open the study)", interactive=False,
                            wrap=True, elem_id=f"{prefix}-disagreements")
        gap_ids = gr.State([])

    def show_page(name, sort_by, order_by, grp, site_name, fmetric, lo, hi, text, page_number):
        if not name:
            return _frame(["Study"], []), "Choose a system." if explorer.names() else "No evaluated systems yet.", 1, []
        try:
            p = data.page(explorer.system(name), sort_metric=sort_by, order=order_by, group=grp, site=site_name,
                          filter_metric=fmetric, low=_bound(lo), high=_bound(hi), search=text or "", page=int(page_number or 1),
                          page_size=PAGE_SIZE)
        except RexrankError as err:
            raise gr.Error(str(err))
        return _frame(p.columns, p.rows), p.caption, p.page, p.study_ids

    page_inputs = [system, sort, order, group, site, filter_metric, low, high, search, number]
    page_outputs = [table, caption, number, page_ids]

    def open_study(name, sid):
        sid = (sid or "").strip()
        if not name or not sid:
            return NO_STUDY, "", "", "", "", "", [], _frame(["System"], [])
        try:
            chosen = explorer.system(name)
            view = data.study(chosen, sid)
            pictures = data.image_files(chosen, sid, explorer.data_dir)
            columns, rows = data.same_study([explorer.system(n) for n in explorer.comparable(name)], sid)
        except RexrankError as err:
            raise gr.Error(str(err))
        return (render.scores_html(view), render.diff_html(view), render.chexbert_html(view["chexbert"]),
                render.radgraph_html(view["radgraph"]), render.green_html(view["green"]),
                render.fineradscore_html(view["fineradscore"]), pictures, _frame(columns, rows))

    study_outputs = [scores, diff, labels, graph, green, fine, images, across]

    def choose_system(name):
        chosen = explorer.system(name) if name else None
        metrics = _metric_choices(chosen)
        others = [n for n in explorer.comparable(name)[1:]] if name else []
        first_metric = chosen.metrics[0] if chosen and chosen.metrics else None
        return (gr.update(choices=metrics, value=first_metric), gr.update(choices=metrics, value=None),
                gr.update(choices=[data.ALL] + (data.sites(chosen) if chosen else []), value=data.ALL,
                          visible=bool(chosen and chosen.sites)),
                gr.update(choices=others, value=others[0] if others else None),
                gr.update(choices=metrics, value=first_metric), 1)

    def refresh_systems(current):
        names = explorer.names()
        return gr.update(choices=names, value=current if current in names else None)

    def show_gaps(name, other_name, metric):
        if not name or not other_name or not metric:
            return _frame(["Study"], []), []
        try:
            columns, rows, ids = data.disagreements(explorer.system(name), explorer.system(other_name), metric)
        except RexrankError as err:
            raise gr.Error(str(err))
        return _frame(columns, rows), ids

    def pick(ids, evt: gr.SelectData):
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        return ids[row] if 0 <= row < len(ids) else gr.update()

    def step(page_number, delta):
        return max(1, int(page_number or 1) + delta)

    system.change(choose_system, system, [sort, filter_metric, site, other, compare_metric, number], api_name=False) \
        .then(show_page, page_inputs, page_outputs, api_name=False)
    for trigger in (sort.change, order.change, group.change, site.change, filter_metric.change, low.submit,
                    high.submit, search.submit):
        trigger(lambda *a: 1, None, number, api_name=False).then(show_page, page_inputs, page_outputs, api_name=False)
    number.submit(show_page, page_inputs, page_outputs, api_name=f"{prefix}_page")
    previous.click(lambda n: step(n, -1), number, number, api_name=False).then(show_page, page_inputs, page_outputs,
                                                                              api_name=False)
    following.click(lambda n: step(n, 1), number, number, api_name=False).then(show_page, page_inputs, page_outputs,
                                                                              api_name=False)
    table.select(pick, page_ids, study_id, api_name=False).then(open_study, [system, study_id], study_outputs,
                                                                api_name=False)
    gaps.select(pick, gap_ids, study_id, api_name=False).then(open_study, [system, study_id], study_outputs,
                                                              api_name=False)
    open_button.click(open_study, [system, study_id], study_outputs, api_name=f"{prefix}_study")
    study_id.submit(open_study, [system, study_id], study_outputs, api_name=False)
    compare_button.click(show_gaps, [system, other, compare_metric], [gaps, gap_ids], api_name=f"{prefix}_disagreements")
    refresh.click(refresh_systems, system, system, api_name=False)
    if refreshable:  # the list only: a result is read from the store when its system is chosen
        demo.load(refresh_systems, system, system, api_name=False)
    else:
        demo.load(choose_system, system, [sort, filter_metric, site, other, compare_metric, number], api_name=False) \
            .then(show_page, page_inputs, page_outputs, api_name=False)


def explorer_app(explorer: data.Explorer) -> gr.Blocks:
    """The local page of ``rexrank explore``."""
    with gr.Blocks(title="ReXrank explorer") as demo:
        gr.Markdown("# ReXrank explorer\nEvery study of a result: sort and filter by any metric, open a study to see "
                    "why it scored what it did.")
        build_explorer(explorer, demo=demo)
    return demo
