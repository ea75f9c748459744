"""Benchmark `rexrank generate`: studies per second, batched vs one by one, on CPU.

Builds the tiny stand-in models of the tests (a ViT+BERT VisionEncoderDecoder and a LLaVA-style
chat model, random weights) and a synthetic IU-Xray-like test set of PNG images in a temporary
folder, then runs the real ``generate_reports`` (adapter choice, length-sorted batches,
progress saving) once per batch size. Nothing is downloaded.

    .venv/bin/python scripts/bench_generate.py [--studies 48] [--batch-sizes 1 16] [--max-new-tokens 32] [--threads 1]

Tiny models measure our pipeline's overhead and batching, not a real model's speed; on a GPU
use the settings in README "Generating reports from a Hub model".
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--studies", type=int, default=48)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: tiny ops on a busy shared machine stall in thread sync)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import torch

    torch.set_num_threads(args.threads)
    from rexrank.space.generation.run import generate_reports
    from rexrank.testing.standins.generation import build_llava, build_ved, write_testset

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-generate-") as tmp:
        root = Path(tmp)
        manifest = write_testset(root, args.studies)
        models = {"vision-encoder-decoder (ViT+BERT)": build_ved(root / "ved"),
                  "chat-vlm (LLaVA-style)": build_llava(root / "llava")}
        for label, folder in models.items():
            base = None
            for batch_size in args.batch_sizes:
                out = root / f"{folder.name}-{batch_size}.json"
                start = time.perf_counter()
                summary = generate_reports(str(folder), "iu_xray", out, manifest=manifest, data_dir=root / "images",
                                           batch_size=batch_size, max_new_tokens=args.max_new_tokens, device="cpu",
                                           canary=False, progress=False)
                seconds = time.perf_counter() - start
                rate = summary.n_generated / seconds
                base = base or rate
                rows.append((label, batch_size, summary.n_generated, seconds, rate, rate / base))
    print(f"\nCPU, torch {torch.__version__}, {torch.get_num_threads()} threads, {args.studies} studies, "
          f"max_new_tokens={args.max_new_tokens}, whole generate_reports call (model load included)\n")
    print(f"| {'path':36} | batch | studies | seconds | studies/s | vs batch {args.batch_sizes[0]} |")
    print(f"|{'-' * 38}|-------|---------|---------|-----------|------------|")
    for label, bs, n, sec, rate, speedup in rows:
        print(f"| {label:36} | {bs:5d} | {n:7d} | {sec:7.2f} | {rate:9.2f} | {speedup:9.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
