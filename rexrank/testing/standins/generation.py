"""Tiny random-weight report generators with the real architectures and file layouts.

* ``build_ved``: a ``VisionEncoderDecoderModel`` (ViT encoder + BERT decoder with
  cross-attention), ``ViTImageProcessor`` and a WordPiece ``BertTokenizer``, saved the way the
  CheXpert-Plus baselines (``IAMJB/chexpert-mimic-cxr-findings-baseline``) are.
* ``build_llava``: a LLaVA-style image-text-to-text model (CLIP vision tower + Llama text
  model), ``LlavaProcessor`` with a chat template, like ``llava-hf/llava-1.5-7b-hf``.

Tokenizers use a small radiology vocabulary so random weights still emit words. Shared by the
tests (``tests/fixtures/generation.py``) and ``scripts/bench_generate.py`` ("tiny" only: the
point is measuring our batching, not a model).
"""

from __future__ import annotations

import os
from pathlib import Path

WORDS = (
    "the lungs are clear heart size is normal no pleural effusion or pneumothorax there "
    "focal consolidation mediastinal contour within limits mild cardiomegaly opacity left right "
    "lower lobe upper atelectasis osseous structures intact silhouette stable small large "
    "bilateral basilar degenerative changes of spine acute cardiopulmonary process"
).split()

LLAVA_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'].upper() }}: "
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}<image> "
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}\n"
    "{% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)


def _seed(seed: int) -> None:
    import torch

    torch.manual_seed(seed)


def build_ved(out_dir: str | os.PathLike, size: str = "tiny", seed: int = 0) -> Path:
    """A ViT + BERT ``VisionEncoderDecoderModel`` folder (weights, processor, tokenizer)."""
    import torch
    from transformers import (BertConfig, BertTokenizer, VisionEncoderDecoderConfig,
                              VisionEncoderDecoderModel, ViTConfig, ViTImageProcessor)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _seed(seed)
    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ","] + list(dict.fromkeys(WORDS)))}
    tokenizer = BertTokenizer(vocab=vocab, do_lower_case=True)
    hidden = 32 if size == "tiny" else 256
    encoder = ViTConfig(image_size=32, patch_size=8, hidden_size=hidden, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=hidden * 2)
    decoder = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=hidden * 2, max_position_embeddings=128, is_decoder=True,
                         add_cross_attention=True)
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)
    config.decoder_start_token_id = tokenizer.cls_token_id
    config.bos_token_id = tokenizer.cls_token_id
    config.pad_token_id = tokenizer.pad_token_id
    config.eos_token_id = tokenizer.sep_token_id
    model = VisionEncoderDecoderModel(config=config).eval()
    with torch.no_grad():  # at init scale every image decodes alike; make reports depend on the image
        for name, param in model.named_parameters():
            if "patch_embeddings" in name or ("crossattention" in name and name.endswith("weight")
                                              and "LayerNorm" not in name):
                param.mul_(20)
    model.generation_config.decoder_start_token_id = tokenizer.cls_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.sep_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(out)
    return out


def _word_tokenizer(extra_special: list[str]):
    """A word-level fast tokenizer over :data:`WORDS` plus the given special tokens."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<s>", "</s>", "<pad>"] + extra_special
    words = list(dict.fromkeys(WORDS + ["user", "assistant", "system", ":", ".", ",", "write", "findings",
                                       "impression", "section", "report", "for", "this", "chest", "x-ray", "and"]))
    vocab = {t: i for i, t in enumerate(specials + words)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.normalizer = normalizers.Lowercase()
    core.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", bos_token="<s>",
                                        eos_token="</s>", pad_token="<pad>",
                                        additional_special_tokens=extra_special)
    return tokenizer


def build_llava(out_dir: str | os.PathLike, size: str = "tiny", seed: int = 0) -> Path:
    """A LLaVA-1.5-style ``LlavaForConditionalGeneration`` folder with processor + chat template."""
    from transformers import (CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                              LlavaForConditionalGeneration, LlavaProcessor)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _seed(seed)
    tokenizer = _word_tokenizer(["<image>"])
    tokenizer.padding_side = "left"
    hidden = 32 if size == "tiny" else 256
    vision = CLIPVisionConfig(image_size=32, patch_size=8, hidden_size=hidden, intermediate_size=hidden * 2,
                              num_hidden_layers=2, num_attention_heads=2, projection_dim=hidden)
    text = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=hidden * 2,
                       num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                       max_position_embeddings=512, bos_token_id=tokenizer.bos_token_id,
                       eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    config = LlavaConfig(vision_config=vision, text_config=text,
                         image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
                         vision_feature_select_strategy="default", vision_feature_layer=-2)
    config.pad_token_id = tokenizer.pad_token_id
    model = LlavaForConditionalGeneration(config).eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.save_pretrained(out)
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=8,
                               vision_feature_select_strategy="default", num_additional_image_tokens=1, chat_template=LLAVA_CHAT_TEMPLATE)
    processor.save_pretrained(out)
    return out


def write_png(path: str | os.PathLike, seed: int = 0, size: int = 40) -> Path:
    """A small grey-level PNG (a stand-in radiograph), different per seed."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (size, size), dtype=np.uint8), mode="L").save(path)
    return path
