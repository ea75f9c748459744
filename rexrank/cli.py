"""The `rexrank` console command.

Each subcommand lives in its own module that exposes ``add_arguments(parser)`` and
``run(args) -> int``. Only the module of the subcommand being run is imported, and those
modules import nothing heavy at module level, so ``rexrank --help`` answers at once.

Errors end as one line, never a traceback: the project's own errors (exit 2) say what to do;
a file the system refuses (exit 2) says which and why; anything else (exit 1) is named with
a pointer to ``-vv``, which logs the traceback. Every log line, these included, goes through
the same secret redaction as the Space (:mod:`rexrank.redaction`).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Sequence

from rexrank import __version__

# name -> (module implementing it, one-line help). Add a row to add a subcommand.
COMMANDS: dict[str, tuple[str, str]] = {
    "data": ("rexrank.datasets.cli", "build the ReXrank test sets as parquet + dataset card (optionally push to the Hub)"),
    "score": ("rexrank.metrics.cli.score", "score a predictions file on a ReXrank test set: table, results.json, plots"),
    "compare": ("rexrank.metrics.cli.compare", "compare two systems' results.json: paired differences, CIs and p-values"),
    "verify": ("rexrank.metrics.cli.verify", "re-score a sample of a result with the official packages and compare (PASS/FAIL)"),
    "explore": ("rexrank.space.cli.explore", "look at a result study by study: texts, diff, labels, entities, analyses"),
    "metrics": ("rexrank.metrics.cli.metrics", "list the ReXrank metrics, their models and pinned revisions"),
    "generate": ("rexrank.space.cli.generate", "generate reports for a test set with a Hub model or a ReXrank "
                                               "submission folder (resumable)"),
    "serve": ("rexrank.space.cli.serve", "run the leaderboard Space locally on an embedded store"),
    "worker": ("rexrank.space.cli.worker", "run the evaluation queue worker"),
    "space": ("rexrank.space.cli.space", "build the leaderboard as a Hub Space folder, or deploy it (token from HF_TOKEN)"),
    "queue": ("rexrank.space.cli.queue", "list the queue; approve or refuse submissions that run code (maintainers)"),
    "install-evaluate": ("rexrank.metrics.evaluate_glue.install", "install the evaluate modules so evaluate.load('rexrank') works offline"),
    "assets": ("rexrank.assets_cli", "fetch, verify or seed the official assets (manifests, prompts, matrices)"),
}

DESCRIPTION = """\
ReXrank: test sets, metrics and leaderboard for chest X-ray report generation.

Typical session:
  rexrank data build iu_xray --out data/iu_xray          # the test set as parquet
  rexrank generate --model IAMJB/chexpert-mimic-cxr-findings-baseline --dataset iu_xray --out preds.json
  rexrank score --dataset iu_xray --track findings --predictions preds.json --out results/
  rexrank serve                                           # the leaderboard Space, locally

Run `rexrank COMMAND --help` for the options of a command.
Secrets (HF_TOKEN, OPENAI_API_KEY) are read from the environment only.
"""


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rexrank", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"rexrank {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def _configure_logging(verbose: int, quiet: bool) -> None:
    from rexrank.redaction import install_log_filter

    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    for noisy in ("httpx", "httpx2"):  # huggingface_hub's HTTP client logs every request at INFO
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    install_log_filter()


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = _top_parser()
    # Split global options from the subcommand so only that subcommand's module is imported.
    index = next((i for i, a in enumerate(argv) if a in COMMANDS), None)
    if index is None:
        args = top.parse_args(argv)
        top.print_help()
        return 0 if not argv else 2
    global_args = top.parse_args(argv[:index])
    name = argv[index]
    module_name, help_text = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(
        prog=f"rexrank {name}", description=(module.__doc__ or help_text).strip(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    module.add_arguments(parser)
    args = parser.parse_args(argv[index + 1:])
    _configure_logging(global_args.verbose, global_args.quiet)
    from rexrank.errors import RexrankError

    log = logging.getLogger("rexrank")
    try:
        return int(module.run(args) or 0)
    except RexrankError as err:
        log.error("%s", err)
        return 2
    except KeyboardInterrupt:
        log.warning("interrupted; work saved so far is kept and a rerun resumes")
        return 130
    except OSError as err:  # permission denied, disk full, a path that vanished: the file and why
        where = f" ({err.filename})" if err.filename else ""
        log.error("rexrank %s: %s%s", name, err.strerror or err, where)
        log.debug("traceback", exc_info=True)
        return 2
    except Exception as err:  # noqa: BLE001 - one clear line; the traceback with -vv
        log.error("rexrank %s stopped on an unexpected %s: %s. Rerun with -vv for the traceback and please "
                  "report it; work saved so far is kept.", name, type(err).__name__, str(err)[:500])
        log.debug("traceback", exc_info=True)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
