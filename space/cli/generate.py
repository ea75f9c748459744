"""Generate reports for a ReXrank test set with a Hub model or a ReXrank submission folder, resumably.

Examples:
  rexrank generate --model IAMJB/chexpert-mimic-cxr-findings-baseline --dataset iu_xray \\
      --data-dir /data/iu_xray/images --out preds.json
  rexrank generate --model google/medgemma-4b-it --dataset mimic_cxr --data-dir /data/mimic-cxr-jpg \\
      --section findings_impression --batch-size 16 --out medgemma.json
  rexrank generate --model google/medgemma-4b-it --dataset mimic_cxr --data-dir /shared/mimic-cxr-jpg \\
      --out medgemma.json --ray                      # one replica per GPU of a node or a Ray cluster
  rexrank generate --inference-script my_submission/ --dataset iu_xray --data-dir /data/iu_xray/images \\
      --out preds.json        # ReXrank's protocol: inference.py + environment.yaml or requirements.txt

--inference-script DIR runs `python inference.py --input_json_file IN --save_json_file OUT
--img_root_dir DIR` in an environment built from the folder's environment file (cached by its
hash), with a time limit, in a scratch folder, without network and with a read-only file system
where this machine allows it (Linux namespaces); the output is checked study by study.

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

    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--model", help="Hub repo id, REPO_ID@REVISION, or a local model folder "
                                      "written as a path (./DIR or /full/path)")
    what.add_argument("--inference-script", metavar="DIR",
                      help="a ReXrank submission folder: inference.py and environment.yaml or requirements.txt")
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
    script = parser.add_argument_group("ReXrank submission folders (--inference-script)")
    script.add_argument("--environment", metavar="FILE", help="the environment file (default: the folder's "
                                                              "environment.yaml when conda/mamba is here, else requirements.txt)")
    script.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                        help="stop the script after this long (default: 12 hours); what it wrote is kept")
    script.add_argument("--isolation", choices=("auto", "sandbox", "none"), default="auto",
                        help="auto: isolate where possible, else warn (default); sandbox: refuse to run unisolated; none")
    script.add_argument("--allow-network", action="store_true",
                        help="let the script reach the network (default: none, where the platform allows it)")
    from rexrank.ray_engine import add_cli_arguments

    add_cli_arguments(parser, "generate (one model replica per actor; the images at --data-dir on every node)")


def run(args: argparse.Namespace) -> int:
    if args.inference_script:
        return run_script(args)
    from rexrank.ray_engine import cli_options
    from rexrank.space.generation.run import generate_reports

    summary = generate_reports(
        args.model, args.dataset, args.out, split=args.split, section=args.section, data_dir=args.data_dir,
        manifest=args.manifest, batch_size=args.batch_size, device=args.device, max_new_tokens=args.max_new_tokens,
        adapter=args.adapter, limit=args.limit, prompt=args.prompt, canary=not args.no_canary, **cli_options(args))
    print(json.dumps({k: v for k, v in summary.to_dict().items() if k not in ("record",)}, indent=1))
    return 1 if summary.failures else 0


def run_script(args: argparse.Namespace) -> int:
    from rexrank.space.generation.inference_script import DEFAULT_TIME_LIMIT_S, run_inference_script

    summary = run_inference_script(
        args.inference_script, args.dataset, args.out, split=args.split, section=args.section, data_dir=args.data_dir,
        manifest=args.manifest, environment=args.environment, limit=args.limit, isolation=args.isolation,
        network=args.allow_network, time_limit=args.time_limit or DEFAULT_TIME_LIMIT_S)
    shown = {k: v for k, v in summary.to_dict().items() if k != "record"}
    shown["isolation"] = summary.record.get("isolation")
    print(json.dumps(shown, indent=1))
    return 1 if summary.failures else 0
