"""Publish every evaluate module of the suite to the Hub, one Space per module, so that
``evaluate.load("<org>/rexrank")`` and ``evaluate.load("<org>/rexrank_bleu2")`` work anywhere.

Each Space gets the module file, its metric card, an ``app.py`` widget, the wheel of this exact
rexrank version and a ``requirements.txt`` that installs it (see
``rexrank.metrics.evaluate_glue.publish``). On a machine with only ``evaluate``,
``evaluate.load("<org>/rexrank_bleu2")`` names the one ``pip install`` line that makes it work.
The token comes from ``HF_TOKEN`` only; it is never printed. ``--dry-run`` builds and lists.

    python scripts/publish_evaluate_modules.py --org my-org [--only rexrank rexrank_bleu2] [--wheel FILE]
        [--rexrank-spec rexrank==VERSION] [--private] [--dry-run]
"""

from __future__ import annotations

import argparse
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    from rexrank.errors import RexrankError
    from rexrank.metrics.evaluate_glue.publish import publish

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--org", required=True, help="Hub user or organisation that will own the Spaces")
    parser.add_argument("--only", nargs="+", help="module names to publish (default: all)")
    parser.add_argument("--wheel", help="the rexrank wheel to ship (default: built from this checkout)")
    parser.add_argument("--rexrank-spec", help="install rexrank from an index instead, e.g. rexrank==0.1.0")
    parser.add_argument("--private", action="store_true", help="private Spaces (needs --rexrank-spec)")
    parser.add_argument("--dry-run", action="store_true", help="build the Space folders, upload nothing")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        urls = publish(args.org, only=args.only, private=args.private, rexrank_spec=args.rexrank_spec,
                       wheel=args.wheel, dry_run=args.dry_run)
    except RexrankError as err:
        logging.getLogger("publish_evaluate_modules").error("%s", err)
        return 2
    for url in urls:
        print(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
