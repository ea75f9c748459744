"""Look at a result study by study, in the browser (a local Gradio page on 127.0.0.1).

Sort and filter the studies by any metric, by normal/abnormal and by site; open one to see the
reference and the prediction side by side with a word-level diff, both reports' CheXbert labels
(disagreements highlighted), RadGraph entities and relations (matched / unmatched), GREEN's
analysis and FineRadScore's line severities, and the images when --data-dir is given. With
several results of the same test set: the same study across systems, and where two disagree most.

Examples:
  rexrank explore results/my_model
  rexrank explore results/a results/b --data-dir /data/iu_xray/images
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="+", type=Path, help="results folders (or results.json files)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="the image folder the test set's image paths are relative to (shows the images)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7861, help="port (default 7861)")


def run(args: argparse.Namespace) -> int:
    from rexrank.space.explorer.data import Explorer, file_sources
    from rexrank.space.explorer.ui import explorer_app

    if args.data_dir is not None and not args.data_dir.is_dir():
        from rexrank.errors import InputError

        raise InputError(f"--data-dir {args.data_dir} is not a folder")
    explorer = Explorer(file_sources(args.results), data_dir=args.data_dir)
    logger.info("exploring %s", ", ".join(explorer.names()))
    demo = explorer_app(explorer)
    import gradio as gr

    demo.launch(server_name=args.host, server_port=args.port, theme=gr.themes.Soft(),
                allowed_paths=[str(args.data_dir.resolve())] if args.data_dir else None)
    return 0
