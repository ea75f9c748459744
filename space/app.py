"""The ReXrank leaderboard Space (Gradio 6).

Run locally with ``rexrank serve`` (an embedded folder store and a worker thread), or as a Hub
Space: ``rexrank space build`` / ``deploy`` write a folder whose ``app.py`` calls :func:`main`
(``README.md`` here is its card). Configuration comes from the environment (secrets only from there):

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
from pathlib import Path
from typing import TYPE_CHECKING, Any

if __package__ in (None, "") and sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    # Run as a Space (`python app.py` inside this folder): the folder itself must not be on the
    # path (its modules, e.g. `store`, would shadow others); the code comes from the installed
    # `rexrank` package, as `requirements.txt` installs it.
    del sys.path[0]

import gradio as gr

from rexrank.errors import RexrankError
from rexrank.space import leaderboard as lb
from rexrank.space.store import Store, open_store
from rexrank.space.submit import SubmitPolicy
from rexrank.space.ui import explorer, tabs
from rexrank.space.ui.views import AppSettings

if TYPE_CHECKING:
    from rexrank.space.worker import WorkerSettings

logger = logging.getLogger(__name__)

UI_READ_CACHE_S = 2.0  # a Hub-backed store's pages may show state up to this old
CSS = """
.rexrank-header h1 {margin-bottom: 0.2em}
.state-note {font-size: 0.9em; opacity: 0.8}
"""


# ------------------------------------------------------------------ the Blocks


def build_app(store: Store, settings: AppSettings | None = None) -> gr.Blocks:
    """The Space: a header (with the Hub login inside a Space) and the four tabs."""
    settings = settings or AppSettings()
    with gr.Blocks(title="ReXrank leaderboard") as demo:
        with gr.Row(elem_classes="rexrank-header"):
            gr.Markdown("# ReXrank\nA public leaderboard for AI-generated chest X-ray reports. "
                        "Published ReXrank results and systems evaluated by this Space, with 95% CIs.")
            if settings.on_space:
                gr.LoginButton()
        with gr.Tabs():
            with gr.Tab("Leaderboard", id="leaderboard"):
                tabs.leaderboard_tab(demo, store)
            with gr.Tab("Submit", id="submit"):
                tabs.submit_tab(store, settings)
            with gr.Tab("Queue", id="queue"):
                tabs.queue_tab(demo, store, settings)
            with gr.Tab("Explore", id="explore"):
                explorer.explorer_tab(demo, store)
            with gr.Tab("About", id="about"):
                tabs.about_tab(store, settings)
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


def main() -> None:
    """Run as a Space: configuration from the environment, published tables seeded, worker thread, serve."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from rexrank.redaction import install_log_filter

    install_log_filter()
    store, settings, worker_settings = settings_from_env()
    prepare_store(store)
    if os.environ.get("REXRANK_WORKER", "1") != "0":
        start_worker_thread(open_store(os.environ.get("REXRANK_STORE")), worker_settings)  # no read cache
    launch(build_app(store, settings), host=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"),
           port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")), settings=settings)


if __name__ == "__main__":  # a Hub Space runs `python app.py`; a built Space's app.py calls main()
    main()
