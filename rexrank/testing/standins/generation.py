"""Tiny random-weight report generators with the real architectures and file layouts.

* ``build_ved``: a ``VisionEncoderDecoderModel`` (ViT encoder + BERT decoder with
  cross-attention), ``ViTImageProcessor`` and a WordPiece ``BertTokenizer``, saved the way the
  CheXpert-Plus baselines (``IAMJB/chexpert-mimic-cxr-findings-baseline``) are.
* ``build_llava``: a LLaVA-style image-text-to-text model (CLIP vision tower + Llama text
  model), ``LlavaProcessor`` with a chat template, like ``llava-hf/llava-1.5-7b-hf``.

Tokenizers use a small radiology vocabulary so random weights still emit words. Shared by the
tests (``tests/fixtures/generation.py``), ``scripts/bench_generate.py`` ("tiny": the point is
measuring our batching, not a model) and the device check ("real": the shapes of a CheXpert-Plus
baseline, ViT-base/16 at 224 px + a BERT-base decoder, and of LLaVA-1.5-7B, CLIP ViT-L/14 at
336 px + Llama-2-7B; the vocabulary stays the small one, about 2% of the compute of a 32k one).
Real sizes are built on ``device`` in ``dtype`` (a 7B model in fp32 on a CPU would take minutes).
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


def _on(device: str):
    """Build parameters directly on ``device`` (a context manager)."""
    import torch

    return torch.device(device)


VED_SIZES = {  # (image size, patch, hidden, layers, heads) of encoder and decoder
    "tiny": (32, 8, 32, 2, 2), "small": (32, 8, 256, 2, 2), "real": (224, 16, 768, 12, 12)}


def build_ved(out_dir: str | os.PathLike, size: str = "tiny", seed: int = 0, device: str = "cpu",
              dtype=None) -> Path:
    """A ViT + BERT ``VisionEncoderDecoderModel`` folder (weights, processor, tokenizer)."""
    import torch
    from transformers import (BertConfig, BertTokenizer, VisionEncoderDecoderConfig,
                              VisionEncoderDecoderModel, ViTConfig, ViTImageProcessor)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _seed(seed)
    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ","] + list(dict.fromkeys(WORDS)))}
    tokenizer = BertTokenizer(vocab=vocab, do_lower_case=True)
    image, patch, hidden, layers, heads = VED_SIZES[size]
    wide = 4 if size == "real" else 2
    encoder = ViTConfig(image_size=image, patch_size=patch, hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=heads, intermediate_size=hidden * wide)
    decoder = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                         intermediate_size=hidden * wide, max_position_embeddings=512 if size == "real" else 128,
                         is_decoder=True, add_cross_attention=True)
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)
    config.decoder_start_token_id = tokenizer.cls_token_id
    config.bos_token_id = tokenizer.cls_token_id
    config.pad_token_id = tokenizer.pad_token_id
    config.eos_token_id = tokenizer.sep_token_id
    with _on(device):
        model = VisionEncoderDecoderModel(config=config).eval().to(dtype=dtype or torch.float32)
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
    ViTImageProcessor(size={"height": image, "width": image}).save_pretrained(out)
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


LLAVA_SIZES = {  # vision (image, patch, hidden, layers, heads, intermediate), text (hidden, layers, heads, intermediate)
    "tiny": ((32, 8, 32, 2, 2, 64), (32, 2, 2, 64)),
    "small": ((32, 8, 256, 2, 2, 512), (256, 2, 2, 512)),
    "real": ((336, 14, 1024, 24, 16, 4096), (4096, 32, 32, 11008)),  # LLaVA-1.5-7B
}


def build_llava(out_dir: str | os.PathLike, size: str = "tiny", seed: int = 0, device: str = "cpu",
                dtype=None) -> Path:
    """A LLaVA-1.5-style ``LlavaForConditionalGeneration`` folder with processor + chat template."""
    import torch
    from transformers import (CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                              LlavaForConditionalGeneration, LlavaProcessor)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _seed(seed)
    tokenizer = _word_tokenizer(["<image>"])
    tokenizer.padding_side = "left"
    (image, patch, v_hidden, v_layers, v_heads, v_inter), (hidden, layers, heads, inter) = LLAVA_SIZES[size]
    vision = CLIPVisionConfig(image_size=image, patch_size=patch, hidden_size=v_hidden, intermediate_size=v_inter,
                              num_hidden_layers=v_layers, num_attention_heads=v_heads, projection_dim=v_hidden)
    text = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=inter,
                       num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
                       max_position_embeddings=4096 if size == "real" else 512, bos_token_id=tokenizer.bos_token_id,
                       eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    config = LlavaConfig(vision_config=vision, text_config=text,
                         image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
                         vision_feature_select_strategy="default", vision_feature_layer=-2)
    config.pad_token_id = tokenizer.pad_token_id
    with _on(device):
        model = LlavaForConditionalGeneration(config).eval().to(dtype=dtype or torch.float32)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.save_pretrained(out)
    image_processor = CLIPImageProcessor(size={"shortest_edge": image}, crop_size={"height": image, "width": image})
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=patch,
                               vision_feature_select_strategy="default", num_additional_image_tokens=1, chat_template=LLAVA_CHAT_TEMPLATE)
    processor.save_pretrained(out)
    return out


def write_png(path: str | os.PathLike, seed: int = 0, size: int = 40) -> Path:
    """A grey-level PNG (a stand-in radiograph), different per seed; above 64 px, smooth noise
    (drawn at 1/8 of the size and scaled up), which keeps the files small."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    drawn = size if size <= 64 else max(1, size // 8)
    image = Image.fromarray(rng.integers(0, 256, (drawn, drawn), dtype=np.uint8), mode="L")
    (image if drawn == size else image.resize((size, size), Image.BILINEAR)).save(path)
    return path


def write_testset(root: str | os.PathLike, n: int, image_size: int = 40) -> Path:
    """An IU-Xray-like manifest of ``n`` studies (one or two views each, PNGs under ``root/images``),
    the input ``generate_reports`` takes; returns the manifest path."""
    import json

    root = Path(root)
    manifest = {}
    for k in range(n):
        sid = f"CXR{k}_IM-{k:04d}"
        views = 2 if k % 2 else 1
        paths = [f"{sid}/{i}.png" for i in range(views)]
        for i, rel in enumerate(paths):
            write_png(root / "images" / rel, seed=k * 3 + i, size=image_size)
        manifest[sid] = {"key_image_path": paths[0], "image_path": paths, "frontal_lateral": ["Frontal", "Lateral"][:views],
                         "context": "Indication: dyspnea Comparison: None.", "section_findings": "The lungs are clear.",
                         "section_impression": "No acute process.", "split": "test",
                         "report": "Findings: The lungs are clear. Impression: No acute process."}
    path = root / "manifest.json"
    path.write_text(json.dumps(manifest))
    return path
