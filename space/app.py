"""The ReXrank leaderboard Space (Gradio 6).

Run locally with ``rexrank serve`` (an embedded folder store and a worker thread), or push the
``space/`` folder as a Hub Space: ``README.md`` carries the Space header and this file is its
``app_file``. Configuration comes from the environment (secrets only from there):

* ``REXRANK_STORE``: a folder, or ``hub:ORG/REPO`` for a Hub dataset repo (token: ``HF_TOKEN``)
* ``REXRANK_WORKER=0``: do not run the evaluation worker inside the app
* ``REXRANK_METRICS``: comma-separated metrics the worker computes (default: the registry's set)
* ``REXRANK_RATE_LIMIT``: submissions per user per day on the Hub (default 5)
* ``REXRANK_MAX_UPLOAD_MB``: upload size limit (default 20)
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if __package__ in (None, "") and sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    # Run as a Space (`python app.py` inside this folder): the folder itself must not be on the
    # path (its modules would shadow others); the checkout above it is, for running from a clone.
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import gradio as gr

from rexrank.datasets.registry import TEST_SETS, TRACKS
from rexrank.metrics.registry import METRICS, REXRANK_EIGHT
from rexrank.errors import RexrankError
from rexrank.space import leaderboard as lb
from rexrank.space.redaction import redact
from rexrank.space.store import STATES, Store, open_store
from rexrank.space.submit import SubmitPolicy, check_rate_limit, enqueue, file_requests, model_requests, read_upload

if TYPE_CHECKING:
    from rexrank.space.worker import WorkerSettings

logger = logging.getLogger(__name__)

UI_READ_CACHE_S = 2.0  # a Hub-backed store's pages may show state up to this old
QUEUE_COLUMNS = ["Request", "Submitted", "System", "Test set", "Track", "State", "Reason", "Attempts"]

CSS = """
.rexrank-header h1 {margin-bottom: 0.2em}
.state-note {font-size: 0.9em; opacity: 0.8}
"""

CITATION = """@article{zhang2024rexrank,
  title   = {ReXrank: A Public Leaderboard for AI-Powered Radiology Report Generation},
  author  = {Zhang, Xiaoman and Zhou, Hong-Yu and Yang, Xiaoli and Banerjee, Oishi and Acosta, Juli{\\'a}n N.
             and Miller, Josh and Huang, Ouwen and Rajpurkar, Pranav},
  journal = {arXiv preprint arXiv:2411.15122},
  year    = {2024}
}"""


@dataclass
class AppSettings:
    on_space: bool = field(default_factory=lambda: bool(os.environ.get("SPACE_ID")))
    policy: SubmitPolicy = field(default_factory=SubmitPolicy)
    metrics: list[str] | None = None  # what the worker computes (for the About tab)
    refresh_seconds: float = 5.0


# ------------------------------------------------------------------ views (plain functions, tested)


def leaderboard_view(store: Store, dataset: str, track: str, metric: str):
    """The table of one test set × track, and the top systems on ``metric`` for the plot."""
    frame = lb.leaderboard(store, dataset, track)
    header = METRICS[metric].display if metric in METRICS else metric
    top = lb.top_systems(frame, header) if header in frame else None
    return frame, top


def queue_view(store: Store):
    import pandas as pd

    rows = [[r.id, r.submitted_at.replace("T", " ").rstrip("Z"), r.name, r.dataset, r.track, r.state,
             r.reason or "", r.attempts] for r in reversed(store.requests())]
    return pd.DataFrame(rows, columns=QUEUE_COLUMNS)


def submit_view(store: Store, settings: AppSettings, model: str, revision: str, upload: str | None,
                name: str, datasets: list[str], track: str, submitter: str | None) -> str:
    """Validate and enqueue; returns the message shown under the button (never raises)."""
    try:
        if settings.on_space and submitter is None:
            return "Please log in with your Hugging Face account to submit."
        model = (model or "").strip()
        if bool(model) == bool(upload):
            return "Give either a Hub model id or a predictions file (not both)."
        if upload:
            data = read_upload(upload, settings.policy)
            requests, artifacts = file_requests(data, os.path.basename(upload), datasets, track, display_name=name,
                                                policy=settings.policy, submitter=submitter, metrics=settings.metrics)
        else:
            try:
                requests = model_requests(model, revision, datasets, track, submitter=submitter,
                                          metrics=settings.metrics)
            except ImportError:
                return "Model submissions are not available in this installation; upload a predictions file."
            artifacts = None
        check_rate_limit(store, submitter, settings.policy, wanted=len(requests))
        return "\n\n".join(enqueue(store, requests, artifacts))
    except RexrankError as err:
        return f"Not submitted: {redact(str(err))}"
    except Exception as err:  # noqa: BLE001 - the user gets a message, the log the traceback
        logger.exception("submission failed")
        return f"Not submitted: internal error ({type(err).__name__}); please report it."


def about_markdown(settings: AppSettings, store: Store) -> str:
    lines = ["## Metrics", "",
             "| metric | column | reported as | official implementation | models (repo @ revision) | needs |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name in REXRANK_EIGHT:
        spec = METRICS[name]
        models = ", ".join(f"`{m.repo_id}@{m.revision}`" for m in spec.models) or "none"
        needs = ", ".join(x for x, on in (("GPU", spec.needs_gpu), ("LLM API", spec.needs_api)) if on) or "CPU"
        reported = "1 / mean" if spec.reported_as == "reciprocal_mean" else "mean"
        lines.append(f"| `{name}` | {spec.display} | {reported} | {spec.official} | {models} | {needs} |")
    computed = ", ".join(settings.metrics) if settings.metrics else "the default set (`rexrank metrics`)"
    lines += ["", f"This Space's worker computes: {computed}. Every value comes with its 95% confidence "
              "interval (mean ± 1.96·SD/√n) and n; results keep per-study values and full provenance "
              "(model revisions, library versions, manifest sha256).", "",
              "## Reproduce locally", "", "```bash",
              "pip install 'rexrank[space]'   # or: bash scripts/setup.sh",
              "rexrank generate --model ORG/MODEL --dataset iu_xray --out preds.json",
              "rexrank score --dataset iu_xray --track findings --predictions preds.json --out results/",
              "rexrank serve                  # this Space, on a local store", "```", "",
              "Predictions files: the ReXrank JSON (the test-set JSON with a `model_prediction` per study), "
              "a `{study_id: report}` JSON, JSON lines or CSV with `study_id` and `report` columns.", "",
              "## Citation", "", "```bibtex", CITATION, "```", "",
              f"Published tables: github rajpurkarlab/ReXrank @ b7efa9f (gh-pages). Store: `{store.location}`."]
    return "\n".join(lines)


# ------------------------------------------------------------------ the Blocks


def build_app(store: Store, settings: AppSettings | None = None) -> gr.Blocks:
    settings = settings or AppSettings()
    metric_choices = [(METRICS[n].display, n) for n in REXRANK_EIGHT]

    with gr.Blocks(title="ReXrank leaderboard") as demo:
        with gr.Row(elem_classes="rexrank-header"):
            gr.Markdown("# ReXrank\nA public leaderboard for AI-generated chest X-ray reports. "
                        "Published ReXrank results and systems evaluated by this Space, with 95% CIs.")
            if settings.on_space:
                gr.LoginButton()
        with gr.Tabs():
            with gr.Tab("Leaderboard", id="leaderboard"):
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
                            "manifest that is not the pinned official one, so not comparable.", elem_classes="state-note")
                plot = gr.BarPlot(x="system", y="value", title="Top systems (★ evaluated here)", sort="-y", y_lim=[0, None],
                                  x_label_angle=-30, height=360)

                def show(test_set, track, plot_metric):
                    return leaderboard_view(store, test_set, track, plot_metric)

                for trigger in (dataset.change, track.change, metric.change, refresh.click):
                    trigger(show, [dataset, track, metric], [table, plot], api_name=False)
                demo.load(show, [dataset, track, metric], [table, plot], api_name="leaderboard")

            with gr.Tab("Submit", id="submit"):
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

            with gr.Tab("Queue", id="queue"):
                queue = gr.Dataframe(label="Requests (newest first)", interactive=False, wrap=True,
                                     elem_id="queue-table")
                gr.Markdown(" → ".join(STATES[:2]) + " → FINISHED / FAILED (with the reason)",
                            elem_classes="state-note")
                queue_refresh = gr.Button("Refresh", size="sm", elem_id="queue-refresh")
                queue_refresh.click(lambda: queue_view(store), None, queue, api_name="queue")
                gr.Timer(settings.refresh_seconds).tick(lambda: queue_view(store), None, queue, api_name=False)
                demo.load(lambda: queue_view(store), None, queue, api_name=False)

            with gr.Tab("About", id="about"):
                gr.Markdown(about_markdown(settings, store))
    return demo


def launch(demo: gr.Blocks, *, host: str = "127.0.0.1", port: int = 7860, settings: AppSettings | None = None,
           block: bool = True) -> Any:
    settings = settings or AppSettings()
    return demo.launch(server_name=host, server_port=port, theme=gr.themes.Soft(), css=CSS,
                       max_file_size=settings.policy.max_upload_bytes, prevent_thread_lock=not block)


# ------------------------------------------------------------------ running as a Space


def settings_from_env() -> tuple[Store, AppSettings, "WorkerSettings"]:
    from rexrank.space.worker import WorkerSettings

    metrics = [m.strip() for m in os.environ.get("REXRANK_METRICS", "").split(",") if m.strip()] or None
    on_space = bool(os.environ.get("SPACE_ID"))
    policy = SubmitPolicy(rate_limit=int(os.environ.get("REXRANK_RATE_LIMIT", "5")) if on_space else None)
    store = open_store(os.environ.get("REXRANK_STORE"), read_cache_seconds=UI_READ_CACHE_S)
    return store, AppSettings(on_space=on_space, policy=policy, metrics=metrics), WorkerSettings(metrics=metrics)


def start_worker_thread(store: Store, worker_settings) -> tuple[threading.Thread, threading.Event]:
    from rexrank.space.worker import Worker

    stop = threading.Event()
    worker = Worker(store, worker_settings)
    thread = threading.Thread(target=worker.run, args=(stop,), name="rexrank-worker", daemon=True)
    thread.start()
    return thread, stop


def prepare_store(store: Store) -> None:
    """Seed the published tables into a fresh store (a warning, not a failure, when offline)."""
    try:
        seeded = lb.seed_published(store)
        if seeded:
            logger.info("seeded %d published tables into %s", len(seeded), store.location)
    except RexrankError as err:
        logger.warning("published tables not available: %s", err)


if __name__ == "__main__":  # a Hub Space runs `python app.py`
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from rexrank.space.redaction import install_log_filter

    install_log_filter()
    _store, _settings, _worker_settings = settings_from_env()
    prepare_store(_store)
    if os.environ.get("REXRANK_WORKER", "1") != "0":
        start_worker_thread(open_store(os.environ.get("REXRANK_STORE")), _worker_settings)  # no read cache
    launch(build_app(_store, _settings), host=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"),
           port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")), settings=_settings)
