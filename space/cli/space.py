"""Build the leaderboard as a Hub Space folder, or build and deploy it.

  rexrank space build OUT --space-id ORG/NAME [--store hub:ORG/REPO]   # a folder the Hub builds as is
  rexrank space build OUT --rexrank-spec rexrank==VERSION               # once the version is on an index
  rexrank space deploy ORG/NAME --store hub:ORG/rexrank-queue          # HF_TOKEN in the environment

The folder holds README.md (Space YAML), app.py, the wheel of this exact rexrank version and a
requirements.txt that installs that wheel by its address in the Space repo, pinned by sha256
(the Hub installs requirements before it copies the repo, so a relative wheel path cannot work).
`deploy` also creates the Space, its variables (REXRANK_STORE, --variable) and its secrets
(HF_TOKEN for a Hub store, --secret NAME or NAME=ENVVAR; values from this environment, never printed).
"""

from __future__ import annotations

import argparse


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", metavar="hub:ORG/REPO",
                        help="the Hub dataset repo holding the queue and results (the Space's REXRANK_STORE)")
    parser.add_argument("--rexrank-spec", metavar="SPEC",
                        help="install rexrank from a package index instead of a shipped wheel, e.g. rexrank==0.1.0")
    parser.add_argument("--wheel", metavar="FILE",
                        help="the wheel to ship (default: built from this checkout with pip wheel)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    build = sub.add_parser("build", help="write a self-contained Space folder", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    build.add_argument("out", help="a new or empty folder")
    build.add_argument("--space-id", metavar="ORG/NAME",
                       help="the Space the folder is for (its wheel is downloaded from there); needed without "
                            "--rexrank-spec")
    _common(build)
    deploy = sub.add_parser("deploy", help="build the Space folder and publish it (token from HF_TOKEN)",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    deploy.add_argument("space_id", metavar="ORG/NAME", help="the Space to create or update")
    _common(deploy)
    deploy.add_argument("--private", action="store_true", help="a private Space (needs --rexrank-spec)")
    deploy.add_argument("--secret", action="append", default=[], metavar="NAME[=ENVVAR]",
                        help="a Space secret, its value from the environment variable ENVVAR (default NAME); "
                             "repeatable. HF_TOKEN is added for a Hub store")
    deploy.add_argument("--variable", action="append", default=[], metavar="KEY=VALUE",
                        help="a Space variable, e.g. REXRANK_WORKER=0 or REXRANK_METRICS=bleu2,bertscore; repeatable")


def run(args: argparse.Namespace) -> int:
    if args.action == "build":
        from rexrank.space.deploy.folder import build_folder

        folder = build_folder(args.out, space_id=args.space_id, store=args.store, rexrank_spec=args.rexrank_spec,
                              wheel=args.wheel)
        print(f"wrote {folder.path}: {', '.join(folder.files)}")
        print(f"installs: {folder.requirement}")
        if args.space_id:
            print(f"upload it unchanged: hf upload {args.space_id} {folder.path} . --repo-type space "
                  "(or use `rexrank space deploy`, which also sets the variables and secrets)")
        return 0
    from rexrank.space.deploy.hub import deploy, summary

    print(summary(deploy(args.space_id, store=args.store, rexrank_spec=args.rexrank_spec, wheel=args.wheel,
                         private=args.private, secrets=args.secret, variables=args.variable)))
    return 0
