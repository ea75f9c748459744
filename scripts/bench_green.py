"""Benchmark GREEN generation on CPU: our length-sorted batches against the official loop.

The official ``green_score`` does not install here (its metadata demands Python 3.12.1), so its
loop is reproduced step for step (``GREEN.infer``/``get_response``): studies in input order,
batches of 8, left padding with ``</s>``, ``model.generate(max_length=2048, do_sample=False)``
where ``max_length`` counts the padded prompt. Both sides get the same token ids (ours, which
equal the official tokenizer's, see tests/test_green.py) and the same small random-weight Llama
(``rexrank/testing/standins/green.py``, size "small": 4 layers, hidden 256, the GREEN tokenizer layout).
Random weights never write ``</s>``, so every study runs to its length limit: the table
counts generated tokens per second, and checks that where both sides generated a token it is
the same one (greedy, fp32). Reports: real IU-Xray test findings (rotated by one as candidates).

    .venv/bin/python scripts/bench_green.py [--studies 24] [--max-length 2048] [--batch-sizes 8 16] [--threads 1]

Nothing is downloaded. For GPU figures and the 10,000-study estimate see README "GREEN speed".
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MANIFEST = ROOT.parent / "shared" / "data" / "manifests" / "ReXRank_IUXray_test.json"


def official_loop(model, prompts: list[list[int]], eos: int, max_length: int, batch_size: int = 8) -> list[list[int]]:
    """``GREEN.infer``: input order, batches of 8, left padding, ``max_length`` incl. the padded prompt."""
    import torch

    completions = []
    for start in range(0, len(prompts), batch_size):
        batch = prompts[start:start + batch_size]
        width = max(len(p) for p in batch)
        ids = torch.full((len(batch), width), eos, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, p in enumerate(batch):
            ids[row, width - len(p):] = torch.tensor(p)
            mask[row, width - len(p):] = 1
        with torch.inference_mode():
            out = model.generate(input_ids=ids, attention_mask=mask, eos_token_id=eos, pad_token_id=eos,
                                 max_length=max_length, do_sample=False, temperature=None, top_p=None,
                                 use_cache=True)  # 4.x reads it from generation_config.json; 5.x would take
                                                  # config.json's use_cache=false (as GREEN's) and drop the cache
        for row in out[:, width:].tolist():
            completions.append(row[:row.index(eos) + 1] if eos in row else row)
    return completions


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies", type=int, default=24)
    parser.add_argument("--max-length", type=int, default=2048)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--threads", type=int, default=1)  # with 2 on a busy 2-core box, OpenMP spinning slows decode steps 10x
    parser.add_argument("--manifest", default=str(DEFAULT_MANIFEST))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(args.threads)
    rows = json.loads(Path(args.manifest).read_text()).values()
    findings = [r["section_findings"] for r in rows if isinstance(r.get("section_findings"), str)
                and r["section_findings"].strip()][:args.studies]
    refs, preds = findings, findings[1:] + findings[:1]

    from rexrank.metrics.scorers.green import scorer as green
    from rexrank.metrics.scorers.green.tokens import GreenTokenizer, make_prompt, render_chat
    from rexrank.assets import read_text
    from rexrank.testing.standins.green import build_green

    template = read_text("green/prompt")
    with tempfile.TemporaryDirectory() as tmp:
        folder = build_green(Path(tmp) / "green", size="small", prompt_template=template)
        tokenizer = GreenTokenizer.from_folder(folder)
        prompts = tokenizer.encode([render_chat(make_prompt(template, r, p)) for r, p in zip(refs, preds)],
                                   args.max_length)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
        table = []
        start = time.perf_counter()
        official = official_loop(model, prompts, tokenizer.eos_id, args.max_length)
        seconds = time.perf_counter() - start
        table.append(("official loop (batch 8, input order)", seconds, sum(map(len, official))))
        for batch_size in args.batch_sizes:
            engine = green.HFEngine.__new__(green.HFEngine)  # the scorer's engine on the already loaded model
            engine.model, engine.device, engine.halving = model, "cpu", {}
            scorer = green.GreenScorer(device="cpu", batch_size=batch_size, cache=False, progress=False,
                                       max_length=args.max_length)
            start = time.perf_counter()
            work = green._GreenWork(scorer, prompts, tokenizer, _Resolved(), trust=False)
            for stage in work.stages():  # the scorer's own batches, on the engine above
                for job in stage.jobs:
                    work.absorb(job, stage.runner.run(engine, job))
            ours = [work.done[k] for k in work.keys]
            seconds = time.perf_counter() - start
            same = all(a == b[:len(a)] for a, b in zip(official, ours))
            table.append((f"ours (length-sorted, batch {batch_size})", seconds, sum(map(len, ours))))
            if not same:
                print(f"WARNING: batch {batch_size}: a completion differs from the official one where both generated")
    print(f"\nGREEN generation, {len(prompts)} IU-Xray studies, small random Llama (4 layers, hidden 256), CPU, "
          f"{args.threads} threads, max_length {args.max_length}; prompts {min(map(len, prompts))}-"
          f"{max(map(len, prompts))} tokens\n")
    print(f"| {'run':<40} | {'seconds':>8} | {'generated tokens':>16} | {'tokens/s':>9} | {'s/study':>8} |")
    print(f"|{'-' * 42}|{'-' * 10}:|{'-' * 18}:|{'-' * 11}:|{'-' * 10}:|")
    for name, seconds, tokens in table:
        print(f"| {name:<40} | {seconds:8.1f} | {tokens:16d} | {tokens / seconds:9.1f} | {seconds / len(prompts):8.2f} |")
    print("\nGreedy completions agree token for token wherever both runs generated (official budgets are "
          "2048 minus the longest prompt of each batch of 8; ours 2048 minus the study's own prompt).")
    return 0


class _Resolved:
    """Just what the GREEN work reads for its (disabled) completion cache key."""

    class ref:
        repo_id = "bench/green-small"

    revision = "local"


if __name__ == "__main__":
    sys.exit(main())
