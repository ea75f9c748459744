"""GREEN as ReXrank computes it (DESIGN §7.9): StanfordAIMI/GREEN-RadLlama2-7b judges each
candidate report against its reference, and the score comes from the error counts it writes.

Faithful to the official ``green_score`` (Stanford-AIMI/GREEN @ d72c195):

* input: ``make_prompt`` (300 words per report) in the official template (fetched, see
  ``green_prompt``), the official chat template, ``<s> … </s>`` token ids, at most 2048
  (:mod:`rexrank.metrics.scorers.green.tokens`, which proves equal ids without transformers 4.x);
* decoding: greedy, ``max_length=2048`` counting prompt and completion, stop at ``</s>``;
  fp16 on CUDA as the official run, fp32 on CPU;
* output: prompt + completion decoded with special tokens skipped, cleaned, parsed and scored
  by the official rules (:mod:`rexrank.metrics.scorers.green.parse`).

Faster, same tokens: studies are sorted by length into batches (little padding), identical
inputs are generated once, each study's completion budget is its own ``2048 - prompt length``
(the official loop gives a study ``2048 - longest prompt of its batch of 8``, so its budget
depends on its neighbours; ours equals the official run at batch size 1), and completions
are cached on disk per batch, so an interrupted run resumes. With vLLM installed and a GPU
present the same token ids go to vLLM, which returns completion ids only.

The model repository carries custom tokenizer code. We never run it (we read its
tokenizer files); ``trust_remote_code`` is passed to ``from_pretrained`` only for the
repo@revision pairs in :data:`REMOTE_CODE_ALLOWLIST`, and any other model that declares
remote code is refused.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Mapping, Sequence

from rexrank.metrics.runtime import models
from rexrank.metrics.runtime.oom import HalvingBatches
from rexrank.metrics.runtime.batching import length_sorted_batches
from rexrank.metrics.runtime.work import Job, Runner, Stage, Work, run_local
from rexrank.metrics.scorers.green.parse import analyse, clean_response
from rexrank.metrics.scorers.green.tokens import MAX_LENGTH, MAX_WORDS, GreenTokenizer, make_prompt, render_chat
from rexrank.metrics.scorers.base import check_pairs
from rexrank.metrics.registry import GREEN_MODEL
from rexrank.metrics.scorers.base import ScoreResult
from rexrank import assets
from rexrank.digests import sha256_json
from rexrank.errors import InputError, RemoteCodeRefused

logger = logging.getLogger(__name__)

# The only models for which trust_remote_code may be True: reviewed repo -> pinned commit.
REMOTE_CODE_ALLOWLIST: Mapping[str, str] = MappingProxyType({GREEN_MODEL.repo_id: GREEN_MODEL.revision})
ENGINES = ("auto", "hf", "vllm")
VLLM_CHUNK = 1024  # studies handed to vLLM at once; results are cached after each chunk


def remote_code_allowed(resolved: models.ResolvedModel) -> bool:
    """True only for an allowlisted repo at its pinned commit; refuses other repos that declare
    remote code (``auto_map`` in config.json or tokenizer_config.json)."""
    ref = resolved.ref
    allowed = REMOTE_CODE_ALLOWLIST.get(ref.repo_id) in (ref.revision, resolved.revision)
    declares = [name for name in ("config.json", "tokenizer_config.json")
                if "auto_map" in _read_json(resolved.path / name)]
    if (declares or ref.trust_remote_code) and not allowed:
        raise RemoteCodeRefused(
            f"GREEN model {ref} asks for trust_remote_code ({', '.join(declares) or 'requested'} declares auto_map) "
            f"but is not on the allowlist ({', '.join(f'{k}@{v}' for k, v in REMOTE_CODE_ALLOWLIST.items())}). "
            "We do not run unreviewed code: use the pinned GREEN model, or a copy without custom code.")
    return allowed


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


class HFEngine:
    """transformers ``generate``: greedy, left padding with ``</s>``, one batch at a time."""

    name = "hf"

    def __init__(self, path: Path, device: str, trust_remote_code: bool, half: bool):
        import torch
        from transformers import AutoModelForCausalLM

        self.device = device
        self.dtype = torch.float16 if half else torch.float32
        self.model = models.from_pretrained_strict(
            AutoModelForCausalLM, path, "GREEN model", dtype=self.dtype,
            trust_remote_code=trust_remote_code).eval().to(device)

    def generate(self, prompts: list[list[int]], budgets: list[int], eos_id: int) -> list[list[int]]:
        import torch

        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), eos_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, prompt in enumerate(prompts):
            ids[row, width - len(prompt):] = torch.tensor(prompt)
            mask[row, width - len(prompt):] = 1
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=ids.to(self.device), attention_mask=mask.to(self.device), max_new_tokens=max(budgets),
                do_sample=False, num_beams=1, temperature=None, top_p=None, top_k=None,
                eos_token_id=eos_id, pad_token_id=eos_id, use_cache=True)
        return [_until_eos(row[width:].tolist(), eos_id)[:budget] for row, budget in zip(out, budgets)]


class VLLMEngine:
    """vLLM with our token ids in and completion token ids out (no vLLM tokenizer involved)."""

    name = "vllm"

    def __init__(self, path: Path, max_length: int, trust_remote_code: bool, half: bool = True):
        from vllm import LLM

        self.llm = LLM(model=str(path), skip_tokenizer_init=True, dtype="float16" if half else "float32", seed=0,
                       max_model_len=max_length + 1, trust_remote_code=trust_remote_code)

    def generate(self, prompts: list[list[int]], budgets: list[int], eos_id: int) -> list[list[int]]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        params = [SamplingParams(temperature=0.0, max_tokens=b, stop_token_ids=[eos_id], detokenize=False)
                  for b in budgets]
        outputs = self.llm.generate([TokensPrompt(prompt_token_ids=p) for p in prompts], params, use_tqdm=False)
        return [_until_eos(list(o.outputs[0].token_ids), eos_id)[:b] for o, b in zip(outputs, budgets)]


def _until_eos(tokens: list[int], eos_id: int) -> list[int]:
    return tokens[:tokens.index(eos_id) + 1] if eos_id in tokens else tokens


def pick_engine(engine: str, device: str) -> str:
    if engine not in ENGINES:
        raise InputError(f"GREEN engine must be one of {ENGINES}, not {engine!r}")
    if engine != "auto":
        return engine
    try:
        import vllm  # noqa: F401
    except ImportError:
        return "hf"
    return "vllm" if device.startswith("cuda") else "hf"


class GreenScorer:
    """``GreenScorer(device=None, batch_size=None, model=None, engine="auto")(predictions, references)``.

    ``batch_size``: studies per ``generate`` call (default 8 on CPU, 32 on CUDA; the official
    run uses 8). ``cache``: keep completions on disk (``cache_dir``, default under the HF
    home) so a rerun or an interrupted run does not generate twice. ``half``: None (default)
    is the official fp16 on CUDA and fp32 on CPU; False forces fp32 on CUDA too (the device
    check compares it with the CPU). ``max_new_tokens``: a cap on each completion below the
    official ``max_length`` budget (benchmarks only: a capped analysis may lose its counts).
    """

    name = "green"

    def __init__(self, device: str | None = None, batch_size: int | None = None, model: str | None = None,
                 engine: str = "auto", max_length: int = MAX_LENGTH, max_words: int = MAX_WORDS,
                 cache: bool = True, cache_dir: str | None = None, progress: bool = True,
                 half: bool | None = None, max_new_tokens: int | None = None):
        self.device = models.pick_device(device)
        self.batch_size = batch_size or (32 if self.device.startswith("cuda") else 8)
        self.ref = models.parse_model_spec(model, GREEN_MODEL) if model else GREEN_MODEL
        self.engine_name = pick_engine(engine, self.device)
        gpu = self.device.startswith("cuda") or self.engine_name == "vllm"  # where the official run uses fp16
        self.half = gpu if half is None else bool(half) and gpu
        if max_new_tokens is not None and max_new_tokens < 1:
            raise InputError(f"GREEN max_new_tokens must be at least 1, not {max_new_tokens}")
        self.max_new_tokens = max_new_tokens
        if max_length < 2:
            raise InputError(f"GREEN max_length must be at least 2, not {max_length}")
        self.max_length, self.max_words = max_length, max_words
        self.cache, self.cache_dir, self.progress = cache, cache_dir, progress

    def _load(self):
        """The resolved model, whether it may run remote code, and the tokenizer (the engine is
        built where the generation runs: this process, or each Ray actor)."""
        resolved = models.resolve(self.ref)
        trust = remote_code_allowed(resolved)
        tokenizer = models.load_once(("green-tokenizer", str(resolved.path)),
                                     lambda: GreenTokenizer.from_folder(resolved.path))
        return resolved, trust, tokenizer

    def plan(self, predictions: Sequence[str], references: Sequence[str]) -> "_GreenWork":
        """The call as model work (see :mod:`rexrank.metrics.runtime.work`); no model is built here."""
        predictions, references = check_pairs(predictions, references, "GREEN")
        template = assets.read_text("green/prompt")
        resolved, trust, tokenizer = self._load()
        texts = [render_chat(make_prompt(template, r, p, self.max_words), tokenizer.eos_token)
                 for r, p in zip(references, predictions)]
        return _GreenWork(self, tokenizer.encode(texts, self.max_length), tokenizer, resolved, trust)

    def __call__(self, predictions: Sequence[str], references: Sequence[str]) -> ScoreResult:
        return run_local(self.plan(predictions, references), self.progress)

    def _dtype(self) -> str:
        """fp16 wherever the official run would use a GPU (CUDA, or vLLM), fp32 on CPU or when asked."""
        return "float16" if self.half else "float32"


@dataclass(frozen=True)
class _GreenRunner(Runner):
    """Where GREEN generates (this process, or a Ray actor with a GPU): one engine per process,
    batches halved on out-of-memory and kept halved for the rest of the run ``run``."""

    resolved: models.ResolvedModel
    engine: str
    device: str
    max_length: int
    trust: bool
    eos_id: int
    batch_size: int
    run_id: str = ""
    half: bool = False

    def key(self) -> tuple:
        if self.engine == "vllm":
            return ("green-vllm", str(self.resolved.path), self.max_length, self.half)
        return ("green-hf", str(self.resolved.path), self.device, self.half)

    def build(self):
        path = models.locate(self.resolved).path
        engine = VLLMEngine(path, self.max_length, self.trust, self.half) if self.engine == "vllm" \
            else HFEngine(path, self.device, self.trust, self.half)
        engine.halving = {}
        return engine

    def run(self, engine, job: Job) -> list[list[int]]:
        items = list(job.payload)  # (prompt ids, budget, first study with that prompt)
        batches = engine.halving.setdefault(self.run_id, HalvingBatches(self.batch_size, f"GREEN on {self.device}"))
        out: list[list[int]] = []
        for chosen, outputs, err in batches.run(items, lambda chosen: engine.generate(
                [p for p, _, _ in chosen], [b for _, b, _ in chosen], self.eos_id)):
            if err is not None:
                prompt, _, study = chosen[0]
                raise InputError(f"GREEN: study {study} ({len(prompt)} prompt tokens) does not fit "
                                 f"in {self.device} memory even alone; use a larger GPU or device='cpu'. "
                                 "Completions generated so far are cached.") from err
            out.extend(outputs)
        return out


class _GreenWork(Work):
    """Each distinct prompt not in the completion cache generated once, in length-sorted
    batches (``VLLM_CHUNK`` prompts per call with vLLM); completions saved per batch."""

    metric = "green"

    def __init__(self, scorer: GreenScorer, ids: list[list[int]], tokenizer, resolved, trust: bool):
        import uuid

        from rexrank.metrics.runtime.score_cache import ScoreCache, default_dir

        super().__init__(len(ids))
        self.scorer, self.ids, self.tokenizer, self.resolved = scorer, ids, tokenizer, resolved
        self.keys = [sha256_json(p) for p in ids]
        unique = {k: p for k, p in zip(self.keys, ids)}
        self.config = sha256_json(["green-completion", resolved.ref.repo_id, resolved.revision, scorer.max_length,
                                   scorer._dtype()] + ([scorer.max_new_tokens] if scorer.max_new_tokens else []))
        self.store = ScoreCache(Path(scorer.cache_dir) if scorer.cache_dir else default_dir() / "green") \
            if scorer.cache else None
        self.done = {k: v["completion"] for k, v in (self.store.get_many(self.config, unique) if self.store else {}).items()}
        todo = [k for k in unique if k not in self.done]
        if todo:
            logger.info("GREEN: generating %d completions (%d cached) with %s on %s", len(todo), len(self.done),
                        scorer.engine_name, scorer.device)
        first = {}
        for i, k in enumerate(self.keys):
            first.setdefault(k, i)
        size = VLLM_CHUNK if scorer.engine_name == "vllm" else scorer.batch_size  # vLLM schedules its own batches
        pending = [todo[i] for batch in length_sorted_batches([len(unique[k]) for k in todo], size) for i in batch]
        budget = {k: min(max(1, scorer.max_length - len(unique[k])), scorer.max_new_tokens or scorer.max_length)
                  for k in todo}
        self.jobs = [Job(tuple(chunk), [(unique[k], budget[k], first[k]) for k in chunk])
                     for chunk in (pending[i:i + size] for i in range(0, len(pending), size))]
        self.runner = _GreenRunner(resolved, scorer.engine_name, scorer.device, scorer.max_length, trust,
                                   tokenizer.eos_id, size, uuid.uuid4().hex, scorer.half)

    def stages(self):
        if self.jobs:
            yield Stage("GREEN", self.runner, self.jobs)

    def absorb(self, job: Job, outputs) -> None:
        fresh = dict(zip(job.items, outputs))
        self.done.update(fresh)
        if self.store:
            self.store.put_many(self.config, {k: {"completion": v} for k, v in fresh.items()})

    def failed_pairs(self, job: Job):
        lost = set(job.items)
        return [i for i, k in enumerate(self.keys) if k in lost]

    def available(self, index: int) -> bool:
        return self.keys[index] in self.done

    def values(self, indices):
        tokenizer, scorer = self.tokenizer, self.scorer
        details = []
        for i in indices:
            prompt, completion = self.ids[i], self.done[self.keys[i]]
            record = analyse(clean_response(tokenizer.decode(prompt + completion)))
            record.update(prompt_tokens=len(prompt), completion_tokens=len(completion),
                          truncated_prompt=len(prompt) >= scorer.max_length,
                          stopped=bool(completion) and completion[-1] == tokenizer.eos_id)
            details.append(record)
        columns = {
            "green": [d["green"] for d in details],
            "green_significant_errors": [float(sum(d["clinically_significant_errors"].values())) for d in details],
            "green_insignificant_errors": [float(sum(d["clinically_insignificant_errors"].values())) for d in details],
            "green_matched_findings": [float(d["matched_findings"]) for d in details]}
        return columns, details

    def provenance(self):
        scorer = self.scorer
        return {"models": [self.resolved.provenance()], "engine": scorer.engine_name, "device": scorer.device,
                "dtype": scorer._dtype(), "max_length": scorer.max_length, "max_new_tokens": scorer.max_new_tokens,
                "max_words": scorer.max_words,
                "decoding": "greedy", "assets": ["green/prompt"], "official": "Stanford-AIMI/GREEN@d72c195"}
