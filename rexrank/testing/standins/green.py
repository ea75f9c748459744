"""Random-weight stand-in for ``StanfordAIMI/GREEN-RadLlama2-7b``.

The files the Hub repo holds for a Llama-2 model: ``config.json`` (``LlamaForCausalLM``),
``generation_config.json``, ``model.safetensors``, ``tokenizer.model`` (a SentencePiece BPE
model with byte fallback, ids 0/1/2 = ``<unk>``/``<s>``/``</s>``, as Llama-2's), the
``tokenizer.json`` transformers 4.x derives from it (``LlamaConverter``, legacy mode, ``<s> $A``
post-processor, like ``meta-llama/Llama-2-7b-hf``), ``tokenizer_config.json`` and GREEN's
``special_tokens_map.json`` (pad ``<unk>``, one additional special token ``<|coord_9|>``).

The vocabulary is trained on GREEN's prompt and chest X-ray sentences so prompts stay short.
``size``: "tiny" (tests), "small" (CPU benchmark: 4 layers, hidden 256), "real" (Llama-2-7B
shapes, 32k vocabulary; built in fp16 on ``device``, the device check's GPU: far too big for a CPU;
``weights=False`` writes only the config).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from rexrank.testing.standins.core import SENTENCES

SIZES = {
    "tiny": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4),
    "small": dict(hidden_size=256, intermediate_size=688, num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=8),
    "real": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32),
}


def _train_sentencepiece(texts: list[str], vocab_size: int) -> bytes:
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_writer=model, vocab_size=vocab_size, model_type="bpe",
        byte_fallback=True, character_coverage=1.0, split_digits=True, add_dummy_prefix=True,
        remove_extra_whitespaces=False, normalization_rule_name="identity", allow_whitespace_only_pieces=True,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, hard_vocab_limit=False, minloglevel=2)
    return model.getvalue()


def _tokenizer_json(model_file: Path) -> str:
    from tokenizers import processors

    from rexrank.metrics.scorers.green.tokens import _convert_sentencepiece

    backend = _convert_sentencepiece(model_file, legacy=True)
    backend.post_processor = processors.TemplateProcessing(
        single="<s>:0 $A:0", pair="<s>:0 $A:0 <s>:1 $B:1", special_tokens=[("<s>", 1)])
    return backend.to_str()


def build_green(out_dir: str | Path, size: str = "tiny", seed: int = 0, prompt_template: str | None = None,
                device: str = "cpu", weights: bool = True) -> Path:
    """Write the stand-in repo into ``out_dir``; returns it. ``prompt_template``: GREEN's prompt."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lines = [line for line in (prompt_template or "").splitlines() if line.strip()]
    texts = lines * 4 + SENTENCES * 4 + ["[Explanation]: [Clinically Significant Errors]: (a) (b) (c) (d) (e) (f) "
                                         "[Matched Findings]: 1. 2. 3. No errors."] * 4
    (out / "tokenizer.model").write_bytes(_train_sentencepiece(texts, 900))
    (out / "tokenizer.json").write_text(_tokenizer_json(out / "tokenizer.model"))
    (out / "tokenizer_config.json").write_text(json.dumps({
        "add_bos_token": True, "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
        "clean_up_tokenization_spaces": False, "legacy": True, "model_max_length": 1000000000000000019884624838656,
        "pad_token": None, "padding_side": "right", "sp_model_kwargs": {}, "tokenizer_class": "LlamaTokenizer"}, indent=2))
    (out / "special_tokens_map.json").write_text(json.dumps({
        "additional_special_tokens": [{"content": "<|coord_9|>", "lstrip": False, "normalized": False,
                                       "rstrip": False, "single_word": False}],
        "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<unk>", "unk_token": "<unk>"}, indent=2))
    vocab_size = json.loads((out / "tokenizer.json").read_text())["model"]["vocab"].__len__() + 1  # + <|coord_9|>
    config = LlamaConfig(vocab_size=32000 if size == "real" else vocab_size, max_position_embeddings=4096,
                         rms_norm_eps=1e-5, bos_token_id=1, eos_token_id=2, tie_word_embeddings=False,
                         use_cache=False, **SIZES[size])
    config.architectures = ["LlamaForCausalLM"]
    if not weights:
        config.save_pretrained(out)
        return out
    torch.manual_seed(seed)
    with torch.device(device):
        model = LlamaForCausalLM(config).eval().to(torch.float16 if size == "real" else torch.float32)
    with torch.no_grad():  # larger logits than the 0.02 init, so greedy decoding varies by input
        model.lm_head.weight.normal_(0.0, 1.0)
    model.save_pretrained(out)
    (out / "generation_config.json").write_text(json.dumps({"bos_token_id": 1, "eos_token_id": 2}))
    return out
