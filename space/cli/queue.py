"""Look at the evaluation queue, and review submissions that run code.

A submission of a Hub repo holding a ReXrank inference script is never run automatically: it
waits in AWAITING_REVIEW, pinned to the commit it had when submitted, until a maintainer
approves it. Approving needs your Hub token in HF_TOKEN (it says who you are) and your user name
in REXRANK_MAINTAINERS; the approval records who, when and which commit, and only that commit
ever runs.

Examples:
  rexrank queue list --state AWAITING_REVIEW
  rexrank queue show 20261201T101500-123456789-abcd1234     # what to review, with the repo at that commit
  rexrank queue approve 20261201T101500-123456789-abcd1234 --commit 4f2a...   # the commit you reviewed
  rexrank queue refuse 20261201T101500-123456789-abcd1234 --reason "downloads weights at run time"
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from rexrank.space.store import STATES

    parser.add_argument("--store", default=None, help="a folder (default $REXRANK_STORE or ~/.cache/rexrank/space) "
                                                      "or hub:ORG/REPO (token from HF_TOKEN)")
    sub = parser.add_subparsers(dest="action", required=True)
    listing = sub.add_parser("list", help="every request and its state (newest first)")
    listing.add_argument("--state", choices=STATES, help="only requests in this state")
    show = sub.add_parser("show", help="one request, and for a script what a maintainer must review")
    show.add_argument("id")
    approve = sub.add_parser("approve", help="approve a submission awaiting review (maintainers; HF_TOKEN)")
    approve.add_argument("id")
    approve.add_argument("--commit", help="the commit you reviewed; refused if it is not the submitted one")
    refuse = sub.add_parser("refuse", help="refuse a submission awaiting review, saying why (maintainers; HF_TOKEN)")
    refuse.add_argument("id")
    refuse.add_argument("--reason", required=True, help="shown to the submitter in the queue")


def run(args: argparse.Namespace) -> int:
    from rexrank.errors import InputError
    from rexrank.space import review
    from rexrank.space.store import open_store

    store = open_store(args.store)
    if args.action == "list":
        for request in reversed(store.requests()):
            if args.state and request.state != args.state:
                continue
            what = f"{request.model}@{(request.revision or 'main')[:12]}" if request.model else request.name
            print(f"{request.id}\t{request.state}\t{request.kind}\t{what}\t{request.dataset}/{request.track}"
                  f"\t{request.reason or ''}")
        return 0
    request = store.get(args.id)
    if request is None:
        raise InputError(f"no request {args.id} in {store.location}")
    if args.action == "show":
        print(review.review_text(request) if request.kind == "script" else request.to_json().decode())
        if request.approved_by:
            print(f"  approved by {request.approved_by} at {request.approved_at} (commit {request.approved_commit})")
        return 0
    user = review.token_user()
    if args.action == "approve":
        done = review.approve(store, args.id, user, commit=args.commit)
        print(f"approved {done.id}: {done.model}@{done.approved_commit} by {done.approved_by} at {done.approved_at}; "
              "a worker will run it")
    else:
        done = review.refuse(store, args.id, user, args.reason)
        print(f"refused {done.id}: {done.reason}")
    return 0
