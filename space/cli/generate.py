"""Generate reports for a ReXrank test set with a Hub model, resumably.

Examples:
  rexrank generate --model IAMJB/chexpert-mimic-cxr-findings-baseline --dataset iu_xray \\
      --data-dir /data/iu_xray/images --out preds.json
  rexrank generate --model google/medgemma-4b-it --dataset mimic_cxr --data-dir /data/mimic-cxr-jpg \\
      --section findings_impression --batch-size 16 --out medgemma.json

The adapter is chosen from the model's config.json (the reason is logged): a transformers
VisionEncoderDecoderModel, a chat vision-language model (AutoModelForImageTextToText with its
chat template), or a reviewed remote-code model run in its own environment. Anything else is
refused before any weight is downloaded: generate the reports yourself and submit a predictions
file. Progress is saved to OUT.progress.json after every batch; rerun the same command to resume
(failed studies are retried). Exit status 1 when some studies failed.
"""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from rexrank.datasets.registry import CONFIGS, TRACK_NAMES
    from rexrank.space.generation.adapters import ADAPTERS

    parser.add_argument("--model", required=True, help="Hub repo id, REPO_ID@REVISION, or a local model folder "
                                                       "written as a path (./DIR or /full/path)")
    parser.add_argument("--dataset", required=True, choices=CONFIGS, help="ReXrank test set")
    parser.add_argument("--split", default="test", help="split of the test set (default: test)")
    parser.add_argument("--data-dir", help="image root the manifest's image paths are relative to (required)")
    parser.add_argument("--manifest", help="a local manifest file instead of the pinned official one")
    parser.add_argument("--section", default="findings", choices=TRACK_NAMES,
                        help="what to write: the findings section, or findings + impression (default: findings)")
    parser.add_argument("--out", required=True, help="predictions JSON to write (ReXrank format)")
    parser.add_argument("--batch-size", type=int, default=8,
                        help="studies per generate call; halved automatically on CUDA out-of-memory (default: 8)")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: CUDA when present); half precision on GPU")
    parser.add_argument("--max-new-tokens", type=int, default=256, help="report length limit in tokens (default: 256)")
    parser.add_argument("--adapter", choices=sorted(ADAPTERS), help="force an adapter instead of choosing from config.json")
    parser.add_argument("--prompt", help="chat models: the request text (default: one per section; recorded). "
                                         "Placeholders {indication} {comparison} {age} {sex}")
    parser.add_argument("--limit", type=int, help="only the first N studies of the track (a quick try)")
    parser.add_argument("--no-canary", action="store_true", help="skip the two-study check before the full run")


def run(args: argparse.Namespace) -> int:
    from rexrank.space.generation.run import generate_reports

    summary = generate_reports(
        args.model, args.dataset, args.out, split=args.split, section=args.section, data_dir=args.data_dir,
        manifest=args.manifest, batch_size=args.batch_size, device=args.device, max_new_tokens=args.max_new_tokens,
        adapter=args.adapter, limit=args.limit, prompt=args.prompt, canary=not args.no_canary)
    print(json.dumps({k: v for k, v in summary.to_dict().items() if k not in ("record",)}, indent=1))
    return 1 if summary.failures else 0
