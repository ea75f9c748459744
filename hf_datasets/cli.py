"""Build a ReXrank test set as parquet shards + dataset card, optionally push it to the Hub.

  rexrank data build iu_xray --out data/rexrank                      # pinned manifests, both splits
  rexrank data build iu_xray --manifest ReXRank_IUXray_test.json --out data/rexrank   # your copy (test)
  rexrank data build mimic_cxr --data-dir /data/mimic-cxr-jpg/files --out data/rexrank  # + images
  rexrank data build rexgradient --manifest rexgradient_test.json --out data/rexrank   # private set
  rexrank data build rexgradient_160k --out data/rexrank        # gated Hub dataset (HF_TOKEN)
  rexrank data images rexgradient_160k --out /data/rexgradient   # download + extract its images

Then: datasets.load_dataset("data/rexrank", "iu_xray", split="test"). Several configs built into
one --out folder share one dataset card. --push-to-hub REPO_ID uploads the folder with the token
in HF_TOKEN. Images of MIMIC-CXR, CheXpert Plus and ReXGradient need credentialed access: with
--data-dir they are embedded in the shards, so such a folder is only pushed with --private.
"""

from __future__ import annotations

import argparse
import logging

logger = logging.getLogger(__name__)

from rexrank.datasets.registry import CONFIGS, get_test_set


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    build = sub.add_parser("build", help="build a test set into parquet shards + dataset card",
                           description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    build.add_argument("config", choices=CONFIGS, help="the test set")
    build.add_argument("--out", required=True, help="output folder (several configs can share one)")
    build.add_argument("--manifest", action="append", default=[], metavar="[SPLIT=]FILE",
                       help="a local manifest instead of the pinned official one; a bare FILE is the test split "
                            "(repeat for more splits). Required for rexgradient")
    build.add_argument("--split", action="append", default=[], choices=("test", "validation"),
                       help="split(s) to build (default: those given by --manifest, else all of the config's)")
    build.add_argument("--data-dir", help="image root the manifest's image paths are relative to; "
                                          "with it the images are decoded and embedded")
    build.add_argument("--max-shard-size", default="500MB", help="largest parquet shard (default 500MB)")
    build.add_argument("--push-to-hub", metavar="REPO_ID", help="upload the folder to this Hub dataset repo "
                                                                "(token from HF_TOKEN)")
    build.add_argument("--private", action="store_true", help="create the Hub repo as private")
    build.add_argument("--site-field", help="rexgradient_160k: the metadata field to read as each study's site "
                                            "(no public source names one; default $REXRANK_REXGRADIENT_SITE_FIELD)")
    images = sub.add_parser("images", help="ReXGradient-160K: download and extract the image archive",
                            description="Download the deid_png.partNN files of the gated Hub dataset (token from "
                                        "HF_TOKEN; about 150 GB) or use parts you already have, and extract them "
                                        "into OUT/deid_png/. Then pass --data-dir OUT. Rerunning resumes.")
    images.add_argument("config", choices=[c for c in CONFIGS if get_test_set(c).hub_dataset], help="the test set")
    images.add_argument("--out", required=True, help="folder to extract into (the image root: it will hold deid_png/)")
    images.add_argument("--parts-dir", help="folder with deid_png.part00, part01, ... already downloaded "
                                            "(default: download them into OUT/parts)")
    images.add_argument("--no-download", action="store_true", help="only use the parts in --parts-dir")


def manifest_files(config: str, manifest_args: list[str], split_args: list[str]) -> dict[str, str | None]:
    """Splits to build -> local manifest (None = pinned), from --manifest [SPLIT=]FILE and --split."""
    from rexrank.datasets import manifests
    from rexrank.errors import InputError

    given: dict[str, str] = {}
    for item in manifest_args:
        split, sep, file = item.partition("=")
        if not sep or split not in ("test", "validation"):
            split, file = "test", item
        if split in given:
            raise InputError(f"--manifest given twice for the {split} split")
        given[split] = file
    splits = split_args or list(given) or list(get_test_set(config).splits)
    for split in splits:
        manifests.check_config(config, split)
    extra = sorted(set(given) - set(splits))
    if extra:
        raise InputError(f"--manifest for the {extra[0]} split, but --split does not build it")
    return {s: given.get(s) for s in splits}


def run(args: argparse.Namespace) -> int:
    if args.action == "images":
        return run_images(args)
    from rexrank.datasets import export

    files = manifest_files(args.config, args.manifest, args.split)
    if args.push_to_hub:  # fail before the build, not after it
        export.hub_token()
        export.refuse_public_images([args.config] if args.data_dir else [], args.private)
    counts = export.build(args.config, args.out, manifest_files=files, data_dir=args.data_dir,
                          max_shard_size=args.max_shard_size, site_field=args.site_field)
    for split, n in counts.items():
        print(f"{args.config}\t{split}\t{n} studies\t{args.out}")
    print(f'load with: datasets.load_dataset("{args.out}", "{args.config}", split="{next(iter(counts))}")')
    if args.push_to_hub:
        url = export.push(args.out, args.push_to_hub, private=args.private)
        print(f"pushed: {url}")
    return 0


def run_images(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rexrank.datasets import rexgradient

    out = Path(args.out)
    parts_dir = Path(args.parts_dir) if args.parts_dir else out / "parts"
    parts = rexgradient.local_parts(parts_dir) if args.no_download else rexgradient.download_image_parts(parts_dir)
    counts = rexgradient.extract_images(parts, out)
    print(f"{args.config}\timages\t{counts['written']} written, {counts['kept']} already there, "
          f"{counts['skipped']} skipped\t{out / rexgradient.IMAGE_ROOT_NAME}")
    print(f"use: --data-dir {out}")
    return 0
