"""The Space's tabs: each builder adds one tab's components and events to the open ``gr.Blocks``."""

from __future__ import annotations

import gradio as gr

from rexrank.datasets.registry import TEST_SETS, TRACKS
from rexrank.metrics.registry import METRICS, REXRANK_EIGHT
from rexrank.space import leaderboard as lb
from rexrank.space.store import STATES, Store
from rexrank.space.ui.views import (AppSettings, about_markdown, leaderboard_view, queue_view, review_view,
                                    submit_script_view, submit_view)


def leaderboard_tab(demo: gr.Blocks, store: Store) -> None:
    """Tables per test set × track, sortable and searchable, and a plot of the top systems."""
    metric_choices = [(METRICS[n].display, n) for n in REXRANK_EIGHT]
    with gr.Row():
        dataset = gr.Dropdown([(t.display, t.name) for t in TEST_SETS.values()], value="mimic_cxr",
                              label="Test set", elem_id="testset-dropdown")
        track = gr.Radio([(t.display, t.name) for t in TRACKS.values()], value="findings", label="Track")
        metric = gr.Dropdown(metric_choices, value="radcliq", label="Plot metric", elem_id="plot-metric")
        refresh = gr.Button("Refresh", size="sm")
    table = gr.Dataframe(label="Leaderboard (click a column to sort)", interactive=False, wrap=True,
                         show_search="search", datatype="markdown", max_height=640,
                         elem_id="leaderboard-table")
    gr.Markdown(f"*{lb.OURS}*: evaluated by this Space's worker (± is the 95% CI half-width). "
                f"*{lb.PUBLISHED}*: the official ReXrank tables. *(custom test set)*: scored on a local "
                "manifest that is not the pinned official one, so not comparable. **∞**: a reciprocal metric "
                "whose mean is 0 (e.g. no FineRadScore error in any study), ranked first; **—**: undefined or not "
                "reported. Hover a cell for the reason; such values are left out of the plot.",
                elem_classes="state-note")
    plot = gr.BarPlot(x="system", y="value", title="Top systems (★ evaluated here)", sort="-y", y_lim=[0, None],
                      x_label_angle=-30, height=360)

    def show(test_set, track, plot_metric):
        return leaderboard_view(store, test_set, track, plot_metric)

    for trigger in (dataset.change, track.change, metric.change, refresh.click):
        trigger(show, [dataset, track, metric], [table, plot], api_name=False)
    demo.load(show, [dataset, track, metric], [table, plot], api_name="leaderboard")


def submit_tab(store: Store, settings: AppSettings) -> None:
    """A Hub model id or a predictions file, checked at once and queued."""
    gr.Markdown("Submit a **Hub model** (the worker generates its reports) or upload a "
                "**predictions file** for one test set. Each request is evaluated once.")
    with gr.Row():
        model = gr.Textbox(label="Hub model id", placeholder="IAMJB/chexpert-mimic-cxr-findings-baseline")
        revision = gr.Textbox(label="Revision (optional)", placeholder="main or a commit sha")
    with gr.Row():
        upload = gr.File(label="…or a predictions file (.json, .jsonl, .csv)", type="filepath",
                         file_types=[".json", ".jsonl", ".csv"], elem_id="predictions-upload")
        name = gr.Textbox(label="System name (for a predictions file)", elem_id="system-name")
    datasets = gr.CheckboxGroup([(t.display, t.name) for t in TEST_SETS.values()], value=["iu_xray"],
                                label="Test sets")
    submit_track = gr.Radio([(t.display, t.name) for t in TRACKS.values()], value="findings", label="Track")
    button = gr.Button("Submit", variant="primary", elem_id="submit-button")
    status = gr.Markdown(elem_id="submit-status")

    if settings.on_space:
        def submit(model_id, revision, predictions_file, system_name, test_sets, track,
                   profile: gr.OAuthProfile | None):
            return submit_view(store, settings, model_id, revision, predictions_file, system_name,
                               test_sets, track, profile.username if profile else None)
    else:
        def submit(model_id, revision, predictions_file, system_name, test_sets, track):
            return submit_view(store, settings, model_id, revision, predictions_file, system_name,
                               test_sets, track, None)
    button.click(submit, [model, revision, upload, name, datasets, submit_track], status,
                 api_name="submit")
    script_section(store, settings)


def script_section(store: Store, settings: AppSettings) -> None:
    """A Hub repo with a ReXrank inference script: queued for a maintainer's review, never run before."""
    with gr.Accordion("…or a ReXrank inference script (inference.py + environment file in a Hub repo)", open=False):
        gr.Markdown("ReXrank's own protocol: `python inference.py --input_json_file IN --save_json_file OUT "
                    "--img_root_dir DIR` in the environment your `environment.yaml` or `requirements.txt` defines. "
                    "The submission is pinned to the repo's current commit and **waits for a maintainer's review**; "
                    "only the reviewed commit runs, without network, on this leaderboard's workers.")
        with gr.Row():
            repo = gr.Textbox(label="Hub repo id", placeholder="your-org/your-model", elem_id="script-repo")
            repo_type = gr.Radio(["model", "space"], value="model", label="Repo type")
            revision = gr.Textbox(label="Revision (optional)", placeholder="main, a tag or a commit sha")
        name = gr.Textbox(label="System name (optional)", elem_id="script-name")
        datasets = gr.CheckboxGroup([(t.display, t.name) for t in TEST_SETS.values()], value=["iu_xray"],
                                    label="Test sets")
        track = gr.Radio([(t.display, t.name) for t in TRACKS.values()], value="findings", label="Track")
        button = gr.Button("Submit for review", elem_id="submit-script-button")
        status = gr.Markdown(elem_id="submit-script-status")
    inputs = [repo, repo_type, revision, name, datasets, track]
    if settings.on_space:
        def submit(repo_id, kind, rev, system_name, test_sets, track_name, profile: gr.OAuthProfile | None):
            return submit_script_view(store, settings, repo_id, kind, rev, system_name, test_sets, track_name,
                                      profile.username if profile else None)
    else:
        def submit(repo_id, kind, rev, system_name, test_sets, track_name):
            return submit_script_view(store, settings, repo_id, kind, rev, system_name, test_sets, track_name, None)
    button.click(submit, inputs, status, api_name="submit_script")


def queue_tab(demo: gr.Blocks, store: Store, settings: AppSettings) -> None:
    """Every request and its state, refreshed on a timer."""
    queue = gr.Dataframe(label="Requests (newest first)", interactive=False, wrap=True,
                         elem_id="queue-table")
    gr.Markdown("AWAITING_REVIEW (inference scripts only) → " + " → ".join(STATES[1:3]) +
                " → FINISHED / FAILED (with the reason)", elem_classes="state-note")
    queue_refresh = gr.Button("Refresh", size="sm", elem_id="queue-refresh")
    queue_refresh.click(lambda: queue_view(store), None, queue, api_name="queue")
    gr.Timer(settings.refresh_seconds).tick(lambda: queue_view(store), None, queue, api_name=False)
    demo.load(lambda: queue_view(store), None, queue, api_name=False)
    review_section(store, settings)


def review_section(store: Store, settings: AppSettings) -> None:
    """Maintainers (REXRANK_MAINTAINERS, logged in with the Hub) approve or refuse submissions awaiting review."""
    with gr.Accordion("Review a submission (maintainers)", open=False):
        gr.Markdown("Review the repo **at the submitted commit** (the Review column) before approving: "
                    "`inference.py` and all it runs, the environment file, where weights come from. "
                    "Approval records your user name, the time and the commit.")
        with gr.Row():
            request_id = gr.Textbox(label="Request", elem_id="review-request")
            commit = gr.Textbox(label="Commit you reviewed (optional; must be the submitted one)")
        reason = gr.Textbox(label="Reason (to refuse)")
        with gr.Row():
            approve = gr.Button("Approve", variant="primary", elem_id="review-approve")
            refuse = gr.Button("Refuse", variant="stop", elem_id="review-refuse")
        status = gr.Markdown(elem_id="review-status")
    for button, action in ((approve, "approve"), (refuse, "refuse")):
        button.click(_reviewer(store, settings, action), [request_id, commit, reason], status,
                     api_name=f"review_{action}")


def _reviewer(store: Store, settings: AppSettings, action: str):
    """The event handler of one review button (the logged-in user injected by Gradio on a Space)."""
    if settings.on_space:
        def act(request_id, commit, reason, profile: gr.OAuthProfile | None):
            return review_view(store, settings, request_id, commit, reason, action,
                               profile.username if profile else None)
    else:
        def act(request_id, commit, reason):
            return review_view(store, settings, request_id, commit, reason, action, None)
    return act


def about_tab(store: Store, settings: AppSettings) -> None:
    """The metrics from the registry, how to reproduce, the citation."""
    gr.Markdown(about_markdown(settings, store))
