"""Real training: TRL's GRPOTrainer (CPU, two steps) on a tiny random causal LM built here, rewarded by
our RadGraph and BERTScore reward functions on the stand-ins; rewards are computed and logged per step."""

from __future__ import annotations

import math

import pytest

from rexrank.metrics.rewards import RewardFunction, reward_function

pytestmark = pytest.mark.slow

REPORTS = ["No pleural effusion. Mild cardiomegaly.", "The lungs are clear. Heart size is normal.",
           "Small left effusion with bibasilar atelectasis.", "No acute cardiopulmonary process."]


def _tiny_lm():
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    core = Tokenizer(models.BPE(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    core.train_from_iterator(REPORTS * 5 + ["Findings for study: write the findings."],
                             trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
                                                 initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                                 show_progress=False))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                                        pad_token="<pad>")
    tokenizer.chat_template = ("{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}</s>{% endfor %}"
                               "{% if add_generation_prompt %}<s>assistant: {% endif %}")
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                                         max_position_embeddings=256, bos_token_id=1, eos_token_id=2, pad_token_id=3))
    # A few hundred steps on the reports (about a second), so that sampled completions contain report
    # words and the RadGraph reward varies; a purely random model writes nothing RadGraph recognises.
    texts = [f"Findings for study {i}: {r}</s>" for i, r in enumerate(REPORTS)]
    texts += [f"<s>user: Findings for study {i}:</s><s>assistant: {r}</s>" for i, r in enumerate(REPORTS)]
    batch = tokenizer(texts, return_tensors="pt", padding=True)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(200):
        loss = model(**batch, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval(), tokenizer


@pytest.mark.parametrize("conversational", [False, True], ids=["plain", "chat"])
def test_grpo_two_steps_logs_our_rewards(tiny_radgraph_models, tiny_bertscore_models, tmp_path, monkeypatch,
                                         conversational):
    import torch
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    calls: list[dict] = []
    real_call = RewardFunction.__call__

    def recording(self, completions, **kwargs):
        rewards = real_call(self, completions, **kwargs)
        calls.append({"name": self.__name__, "n": len(completions), "kind": type(completions[0]).__name__,
                      "rewards": rewards, "references": list(kwargs["ground_truth"])})
        return rewards

    monkeypatch.setattr(RewardFunction, "__call__", recording)
    torch.set_num_threads(1)
    model, tokenizer = _tiny_lm()
    prompts = ([[{"role": "user", "content": f"Findings for study {i}:"}] for i in range(4)] if conversational
               else [f"Findings for study {i}:" for i in range(4)])
    dataset = Dataset.from_dict({"prompt": prompts, "ground_truth": REPORTS})
    rewards = [reward_function("radgraph", device="cpu"), reward_function("bertscore", device="cpu")]
    args = GRPOConfig(output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=8, num_generations=4,
                      max_completion_length=24, logging_steps=1, report_to="none", use_cpu=True, bf16=False,
                      activation_checkpointing=False, learning_rate=1e-4, save_strategy="no", seed=0,
                      dataloader_num_workers=0, disable_tqdm=True)
    trainer = GRPOTrainer(model=model, processing_class=tokenizer, reward_funcs=rewards, args=args,
                          train_dataset=dataset)
    trainer.train()

    logs = [h for h in trainer.state.log_history if "rewards/rexrank_radgraph/mean" in h]
    assert [h["step"] for h in logs] == [1, 2]
    # each reward ran once per step on the whole generation batch: 2 prompts x 4 generations
    assert [c["name"] for c in calls] == ["rexrank_radgraph", "rexrank_bertscore"] * 2
    assert all(c["n"] == 8 and c["kind"] == ("list" if conversational else "str") for c in calls)
    assert all(set(c["references"]) <= set(REPORTS) and len(set(c["references"])) == 2 for c in calls)
    for step, log in enumerate(logs):
        for name in ("rexrank_radgraph", "rexrank_bertscore"):
            values = next(c["rewards"] for c in calls[2 * step:2 * step + 2] if c["name"] == name)
            assert all(isinstance(v, float) and math.isfinite(v) for v in values)
            assert log[f"rewards/{name}/mean"] == pytest.approx(sum(values) / len(values), abs=1e-5)
            assert log[f"rewards/{name}/std"] >= 0
        assert math.isfinite(log["reward"]) and math.isfinite(log["loss"])
    assert any(v > 0 for c in calls if c["name"] == "rexrank_radgraph" for v in c["rewards"])
    print("GRPO logged rewards:", [{k: round(v, 4) for k, v in h.items() if k.startswith(("reward", "step"))}
                                   for h in logs])
