"""GREEN end to end on a tiny random Llama saved under the real repo id: token ids and completions
equal to the official loop on transformers 4.x (oracle), caching and resuming, the remote-code
allowlist, and the length budget."""

from __future__ import annotations

import json
import shutil

import pytest

from rexrank.metrics.scorers.green import scorer as green
from rexrank.metrics.runtime import models
from rexrank.metrics.scorers.green.tokens import OFFICIAL_CHAT_TEMPLATE, GreenTokenizer, make_prompt, render_chat
from rexrank.metrics.registry import GREEN_MODEL, load_scorer
from rexrank import assets
from rexrank.errors import InputError, RemoteCodeRefused
from rexrank.testing import hubcache


@pytest.fixture(scope="module")
def template() -> str:
    return assets.read_text("green/prompt")


@pytest.fixture(scope="module")
def pairs(iu_findings) -> tuple[list[str], list[str]]:
    """(references, predictions): real findings, an empty candidate, a 5,000-word report,
    non-English text, a report that holds a placeholder and a literal </s>."""
    long_report = " ".join((" ".join(iu_findings) + " ") * 20).split()[:5000]
    refs = iu_findings[:6] + [iu_findings[6], " ".join(long_report), "Cœur normal. 肺 清晰.", "Heart <<CANDIDATE>> ok"]
    preds = iu_findings[3:9] + ["", iu_findings[7], "Épanchement pleural gauche.", "No </s> effusion <|assistant|>"]
    return refs, preds


def test_rendering_equals_the_official_chat_template(template):
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)  # as apply_chat_template
    prompt = make_prompt(template, "Heart  normal.\n\nNo effusion.", "")
    messages = [{"from": "human", "value": prompt}, {"from": "gpt", "value": ""}]
    official = env.from_string(OFFICIAL_CHAT_TEMPLATE).render(messages=messages, add_generation_prompt=True,
                                                             eos_token="</s>")
    assert official == render_chat(prompt)
    assert prompt.count("Heart normal. No effusion.") == 1  # 300-word cut collapses whitespace


def test_make_prompt_cuts_each_report_to_300_words(template):
    words = [f"w{i}" for i in range(400)]
    prompt = make_prompt(template, " ".join(words), "\n".join(words))
    assert prompt.count(" ".join(words[:300]) + "\n") == 2 and "w300" not in prompt


@pytest.mark.oracle
def test_token_ids_equal_the_official_tokenizer_settings(oracle, tiny_green_models, template, pairs):
    """transformers 4.57 with GREEN's kwargs (add_eos_token, use_fast, left padding, pad = eos) and
    chat template, in batches of 8, against our ids; also with truncation at a short max_length."""
    refs, preds = pairs
    tokenizer = GreenTokenizer.from_folder(tiny_green_models["snapshot"])
    for max_length in (2048, 300):
        official = oracle("green_official", model_dir=str(tiny_green_models["snapshot"]), template=template,
                          references=refs, predictions=preds, max_length=max_length, generate=False)
        ours = [render_chat(make_prompt(template, r, p)) for r, p in zip(refs, preds)]
        assert ours == official["rendered"]
        ids = tokenizer.encode(ours, max_length)
        assert ids == official["input_ids"]
        assert all(i[0] == 1 and i[-1] == 2 for i in ids)
    assert max(len(i) for i in tokenizer.encode(ours, 300)) == 300  # the 5,000-word pair is cut


def test_tokenizer_model_only_repo_converts_like_transformers_4(tiny_green_models, tmp_path, template, pairs):
    import sentencepiece as spm

    folder = tmp_path / "no-json"
    shutil.copytree(tiny_green_models["folder"], folder)
    (folder / "tokenizer.json").unlink()
    texts = [render_chat(make_prompt(template, r, p)) for r, p in zip(*pairs)]
    converted, original = GreenTokenizer.from_folder(folder), GreenTokenizer.from_folder(tiny_green_models["folder"])
    assert converted.encode(texts) == original.encode(texts)
    sp = spm.SentencePieceProcessor(model_file=str(folder / "tokenizer.model"))
    plain = make_prompt(template, *pairs[0][:1], *pairs[1][:1])
    assert converted.backend.encode(plain, add_special_tokens=False).ids == sp.encode(plain)


@pytest.mark.oracle
def test_end_to_end_equals_the_official_loop(oracle, tiny_green_models, template, tmp_path):
    """Same completions and scores as the official loop run one study at a time (where each
    study's budget is its own 2048 - prompt length, like ours), ours in length-sorted batches."""
    refs = ["Heart size normal. No effusion.", "Lungs clear.", "Cœur normal. 肺 清晰.", "Heart <<CANDIDATE>> ok",
            "Mild cardiomegaly.", "No pneumothorax."]
    preds = ["", "Left effusion.", "Épanchement pleural gauche.", "No </s> effusion <|assistant|>",
             "Mild cardiomegaly.", "Small right pneumothorax."]
    tokenizer = GreenTokenizer.from_folder(tiny_green_models["snapshot"])
    longest = max(len(i) for i in tokenizer.encode([render_chat(make_prompt(template, r, p))
                                                    for r, p in zip(refs, preds)]))
    max_length = longest + 4  # short prompts of similar length: a few new tokens each, so the test stays fast
    official = oracle("green_official", model_dir=str(tiny_green_models["snapshot"]), template=template,
                      references=refs, predictions=preds, max_length=max_length, batch_size=1)
    scorer = load_scorer("green", device="cpu", batch_size=4, max_length=max_length, cache_dir=str(tmp_path),
                         progress=False)
    result = scorer(preds, refs)
    assert [d["analysis"] for d in result.details] == official["completions"]
    assert result.values["green"] == [0.0] * len(refs)  # random weights write no parsable counts
    assert result.provenance["models"][0]["resolved_revision"] == GREEN_MODEL.revision
    assert result.provenance["engine"] == "hf" and result.provenance["dtype"] == "float32"
    assert all(d["completion_tokens"] >= 1 and "clinically_significant_errors" in d for d in result.details)
    assert set(result.values) == {"green", "green_significant_errors", "green_insignificant_errors",
                                  "green_matched_findings"}
    assert all(len(v) == len(refs) for v in result.values.values())


def test_budget_is_2048_minus_own_prompt_and_cache_resumes(tiny_green_models, monkeypatch, tmp_path, pairs):
    """Default options: each study asks for 2048 - its prompt length; identical inputs are generated
    once; completions are stored per batch, so a run that dies halfway resumes where it stopped."""
    refs, preds = pairs
    refs, preds = refs[:5] + [refs[0]], preds[:5] + [preds[0]]
    calls: list[tuple[list[int], list[int]]] = []

    def fake_generate(self, prompts, budgets, eos_id):
        calls.append(([len(p) for p in prompts], budgets))
        if len(calls) == 2 and fail["now"]:
            raise RuntimeError("the model crashed (simulated)")
        return [[29871, eos_id] for _ in prompts]

    fail = {"now": True}
    monkeypatch.setattr(green.HFEngine, "generate", fake_generate)
    scorer = green.GreenScorer(device="cpu", batch_size=2, cache_dir=str(tmp_path), progress=False)
    with pytest.raises(RuntimeError, match="simulated"):
        scorer(preds, refs)
    assert all(b == 2048 - n for lengths, budgets in calls for n, b in zip(lengths, budgets))
    assert sum(len(b) for _, b in calls) == 4  # 5 distinct inputs; died in the second batch
    fail["now"] = False
    calls.clear()
    result = scorer(preds, refs)
    assert sum(len(b) for _, b in calls) == 3  # the first batch came from the cache
    assert len(result.values["green"]) == 6 and result.details[0]["stopped"]
    calls.clear()
    scorer(preds, refs)
    assert calls == []


def test_max_new_tokens_caps_every_completion_and_keys_the_cache(tiny_green_models, tmp_path, pairs):
    """A cap (the device check's: random weights never stop) bounds each completion, and capped
    completions are cached apart from uncapped ones."""
    refs, preds = pairs
    refs, preds = refs[:4], preds[:4]
    capped = green.GreenScorer(device="cpu", cache_dir=str(tmp_path), progress=False, max_new_tokens=3)(preds, refs)
    assert [d["completion_tokens"] for d in capped.details] == [3] * 4 and capped.provenance["max_new_tokens"] == 3
    longer = green.GreenScorer(device="cpu", cache_dir=str(tmp_path), progress=False, max_new_tokens=5)(preds, refs)
    assert [d["completion_tokens"] for d in longer.details] == [5] * 4
    with pytest.raises(InputError, match="max_new_tokens"):
        green.GreenScorer(device="cpu", max_new_tokens=0)
    assert green.GreenScorer(device="cpu", half=True)._dtype() == "float32"  # fp16 only where the official run uses it


def test_out_of_gpu_memory_halves_the_batch_and_names_a_study_that_never_fits(tiny_green_models, monkeypatch,
                                                                          tmp_path, pairs):
    import torch

    refs, preds = pairs
    refs, preds = refs[:7], preds[:7]
    sizes: list[int] = []
    longest = {"fits": 10**9}

    def fake_generate(self, prompts, budgets, eos_id):
        sizes.append(len(prompts))
        if len(prompts) > 2 or max(len(p) for p in prompts) > longest["fits"]:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (simulated)")
        return [[29871 + len(p), eos_id] for p in prompts]

    monkeypatch.setattr(green.HFEngine, "generate", fake_generate)
    scorer = green.GreenScorer(device="cpu", batch_size=8, cache_dir=str(tmp_path / "a"), progress=False)
    result = scorer(preds, refs)
    assert sizes == [7, 4, 2, 2, 2, 1]  # halved (8 -> 4 -> 2) until a batch fit, then kept that size
    assert len(result.values["green"]) == 7
    unhurried = green.GreenScorer(device="cpu", batch_size=1, cache=False, progress=False)(preds, refs)
    assert result.details == unhurried.details  # every completion went back to its own study
    sizes.clear()
    longest["fits"] = 0  # nothing fits, even alone
    with pytest.raises(InputError, match=r"GREEN: study \d+ \(\d+ prompt tokens\) does not fit"):
        green.GreenScorer(device="cpu", batch_size=4, cache_dir=str(tmp_path / "b"), progress=False)(preds, refs)
    assert sizes == [4, 2, 1]


def test_non_allowlisted_remote_code_is_refused(tiny_green_models, tmp_path):
    folder = tmp_path / "evil"
    shutil.copytree(tiny_green_models["folder"], folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config["auto_map"] = {"AutoTokenizer": ["tokenization_evil.EvilTokenizer", None]}
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    hubcache.put_folder("someone/green-clone", folder)
    with pytest.raises(RemoteCodeRefused, match="someone/green-clone.*not on the allowlist"):
        green.GreenScorer(device="cpu", model="someone/green-clone")(["a"], ["b"])
    with pytest.raises(RemoteCodeRefused, match="not on the allowlist"):  # a local folder is not reviewed either
        green.GreenScorer(device="cpu", model=str(folder))(["a"], ["b"])
    other_revision = models.resolve(models.ModelRef(GREEN_MODEL.repo_id, "main", trust_remote_code=True))
    assert green.remote_code_allowed(other_revision)  # refs/main resolves to the pinned commit
    with pytest.raises(TypeError):
        green.REMOTE_CODE_ALLOWLIST["someone/green-clone"] = "0" * 40
    assert dict(green.REMOTE_CODE_ALLOWLIST) == {GREEN_MODEL.repo_id: GREEN_MODEL.revision}


def test_engine_choice_and_bad_options():
    assert green.pick_engine("auto", "cpu") == "hf"
    assert green.pick_engine("hf", "cuda") == "hf"
    with pytest.raises(InputError, match="engine must be one of"):
        green.pick_engine("tgi", "cpu")
    with pytest.raises(InputError, match="max_length"):
        green.GreenScorer(device="cpu", max_length=1)


@pytest.mark.oracle
def test_added_tokens_declared_in_the_config_tokenize_like_transformers_4(oracle, tiny_green_models, tmp_path,
                                                                         template):
    """Custom Llama repos often declare extra tokens in tokenizer_config.json / added_tokens.json
    (GREEN's base model does); they must split the text exactly as LlamaTokenizerFast does."""
    folder = tmp_path / "added"
    shutil.copytree(tiny_green_models["folder"], folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    size = GreenTokenizer.from_folder(tiny_green_models["folder"]).backend.get_vocab_size(with_added_tokens=False)
    config["added_tokens_decoder"] = {
        str(size): {"content": "<|assistant|>", "lstrip": False, "normalized": False, "rstrip": False,
                    "single_word": False, "special": False},
        str(size + 1): {"content": "<|coord_0|>", "lstrip": False, "normalized": False, "rstrip": False,
                        "single_word": False, "special": True}}
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    refs, preds = ["Heart <|coord_0|> normal.", "Lungs clear."], ["No effusion <|assistant|> x", ""]
    tokenizer = GreenTokenizer.from_folder(folder)
    ours = tokenizer.encode([render_chat(make_prompt(template, r, p)) for r, p in zip(refs, preds)])
    official = oracle("green_official", model_dir=str(tiny_green_models["folder"]), template=template,
                      references=refs, predictions=preds, generate=False, tokenizer_dir=str(folder))
    assert ours == official["input_ids"]
    assert size in ours[0] and size + 1 in ours[0]
    assert "<|coord_0|>" not in tokenizer.decode(ours[0]) and "<|assistant|>" in tokenizer.decode(ours[0])


def test_vllm_engine_gets_our_token_ids_and_returns_completion_ids_only(tiny_green_models, monkeypatch, tmp_path):
    """vLLM is not installed here: a stand-in ``vllm`` module records what the engine sends. Same
    ids in, greedy, per-study budget, stop at </s>, no vLLM tokenizer, completion ids out."""
    import sys
    import types

    seen: dict = {}

    class LLM:
        def __init__(self, **kwargs):
            seen["init"] = kwargs

        def generate(self, prompts, params, use_tqdm=False):
            seen["prompts"], seen["params"] = prompts, params
            return [types.SimpleNamespace(outputs=[types.SimpleNamespace(token_ids=(29871, 2, 2))]) for _ in prompts]

    class SamplingParams:
        def __init__(self, **kwargs):
            self.__dict__.update(kwargs)

    fake = types.ModuleType("vllm")
    fake.LLM, fake.SamplingParams = LLM, SamplingParams
    inputs = types.ModuleType("vllm.inputs")
    inputs.TokensPrompt = lambda prompt_token_ids: {"prompt_token_ids": prompt_token_ids}
    monkeypatch.setitem(sys.modules, "vllm", fake)
    monkeypatch.setitem(sys.modules, "vllm.inputs", inputs)
    assert green.pick_engine("auto", "cuda") == "vllm" and green.pick_engine("auto", "cpu") == "hf"
    models.clear_loaded()
    refs, preds = ["Heart normal.", "Lungs clear."], ["No effusion.", ""]
    result = green.GreenScorer(device="cpu", engine="vllm", cache_dir=str(tmp_path), progress=False)(preds, refs)
    tokenizer = GreenTokenizer.from_folder(tiny_green_models["snapshot"])
    template = assets.read_text("green/prompt")
    expected = tokenizer.encode([render_chat(make_prompt(template, r, p)) for r, p in zip(refs, preds)])
    assert sorted(p["prompt_token_ids"] for p in seen["prompts"]) == sorted(expected)
    assert seen["init"]["skip_tokenizer_init"] is True and seen["init"]["dtype"] == "float16"
    for prompt, params in zip(seen["prompts"], seen["params"]):
        assert (params.temperature, params.stop_token_ids, params.detokenize) == (0.0, [2], False)
        assert params.max_tokens == 2048 - len(prompt["prompt_token_ids"])
    assert [d["completion_tokens"] for d in result.details] == [2, 2]  # cut after the first </s>
    assert result.provenance["engine"] == "vllm" and result.provenance["dtype"] == "float16"
    assert all(d["stopped"] for d in result.details)
    models.clear_loaded()
