"""Publish every evaluate module of the suite to the Hub, one Space per module, so that
``evaluate.load("<org>/rexrank")`` and ``evaluate.load("<org>/rexrank_bleu2")`` work anywhere.

Each module folder (``hf_metrics/rexrank``, ``hf_metrics/rexrank_*``) is already a Space:
``<name>.py``, ``README.md`` (Space YAML header + metric card), ``requirements.txt``, ``app.py``.
The token comes from the environment only (``HF_TOKEN``, or a prior ``hf auth login``); it is
never printed. ``--dry-run`` lists what would be pushed.

    python scripts/publish_evaluate_modules.py --org my-org [--only rexrank rexrank_bleu2] [--private] [--dry-run]
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from rexrank.metrics.evaluate_glue.install import module_folders  # noqa: E402

logger = logging.getLogger("publish_evaluate_modules")
SPACE_FILES = ("{name}.py", "README.md", "requirements.txt", "app.py")


def files_of(name: str, folder: Path) -> list[str]:
    """The files of one module Space; a module missing one of them is refused (it would not load)."""
    wanted = [f.format(name=name) for f in SPACE_FILES]
    missing = [f for f in wanted if not (folder / f).is_file()]
    if missing:
        raise SystemExit(f"{folder}: missing {missing}; a module Space needs {wanted}")
    return wanted


def publish(org: str, only: list[str] | None, private: bool, dry_run: bool) -> list[str]:
    from huggingface_hub import HfApi

    api = HfApi()  # token: HF_TOKEN or the stored login, never a command-line argument
    folders = module_folders()
    if only:
        folders = {k: v for k, v in folders.items() if k in only}
    urls = []
    for name, folder in folders.items():
        repo_id = f"{org}/{name}"
        files = files_of(name, folder)
        if dry_run:
            logger.info("would push %s -> spaces/%s (%s)", folder, repo_id, ", ".join(files))
            continue
        api.create_repo(repo_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
        info = api.upload_folder(repo_id=repo_id, repo_type="space", folder_path=folder, allow_patterns=files,
                                 commit_message=f"Publish the {name} evaluate module")
        logger.info("pushed %s: %s", repo_id, getattr(info, "commit_url", info))
        urls.append(f"https://huggingface.co/spaces/{repo_id}")
    return urls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--org", required=True, help="Hub user or organisation that will own the Spaces")
    parser.add_argument("--only", nargs="+", help="module names to publish (default: all)")
    parser.add_argument("--private", action="store_true")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    for url in publish(args.org, args.only, args.private, args.dry_run):
        print(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
