"""Chat vision-language models: ``AutoProcessor`` + ``AutoModelForImageTextToText`` + chat template.

Covers MedGemma (Gemma 3), the Qwen2.5-VL family, LLaVA-style models and the other
image-text-to-text architectures transformers ships. One user turn: the study's images, then
the section's prompt (user-overridable, recorded). Greedy decoding, left padding; only the new
tokens are decoded, so the prompt is never echoed into the report.
"""

from __future__ import annotations

from typing import Any, Sequence

from rexrank.space.generation.adapters.base import Adapter, Request, clean_output, load_images

# Architectures trained on several images per turn: they see every view of a study.
# Others (LLaVA-1.5, LLaVA-NeXT, PaliGemma, ...) were trained on one image: the key image.
MULTI_IMAGE_MODEL_TYPES = frozenset({
    "gemma3", "gemma3n", "qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_vl_moe", "idefics2", "idefics3",
    "smolvlm", "llava_onevision", "internvl", "mistral3", "pixtral", "aya_vision", "llama4",
})


def images_per_study(model_type: str) -> int | None:
    """None (all views) for multi-image architectures, else 1 (the key image)."""
    return None if model_type in MULTI_IMAGE_MODEL_TYPES else 1


class ChatVisionLanguageAdapter(Adapter):
    name = "chat-vlm"
    uses_prompt = True

    def __init__(self, choice, **kwargs: Any) -> None:
        super().__init__(choice, **kwargs)
        self.max_images = images_per_study(str(choice.config.get("model_type", "")))

    def load(self) -> None:
        from transformers import AutoModelForImageTextToText, AutoProcessor

        from rexrank.metrics.runtime.models import ModelRef, from_pretrained_strict, resolve

        resolved = resolve(ModelRef(self.choice.repo_id, self.choice.revision))
        what = f"report generator {self.choice.spec}"
        self.model = from_pretrained_strict(AutoModelForImageTextToText, resolved.path, what,
                                            trust_remote_code=False, dtype=self.dtype).to(self.device).eval()
        self.processor = AutoProcessor.from_pretrained(resolved.path, trust_remote_code=False)
        tokenizer = getattr(self.processor, "tokenizer", self.processor)
        tokenizer.padding_side = "left"  # decoder-only generation continues from the right end
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        if getattr(self.processor, "chat_template", None) is None and getattr(tokenizer, "chat_template", None) is None:
            from rexrank.errors import ModelUnavailableError

            raise ModelUnavailableError(
                f"{self.choice.spec} has no chat template, so we cannot phrase the request the way it was "
                "trained; generate reports yourself and submit a predictions file instead.")
        self.tokenizer = tokenizer

    def _text(self, request: Request) -> str:
        content = [{"type": "image"} for _ in request.images] + [{"type": "text", "text": request.prompt}]
        return self.processor.apply_chat_template([{"role": "user", "content": content}],
                                                  add_generation_prompt=True, tokenize=False)

    def generate_batch(self, requests: Sequence[Request]) -> list[str]:
        import torch

        texts = [self._text(r) for r in requests]
        images = [load_images(r.images, r.study_id) for r in requests]
        inputs = self.processor(text=texts, images=images, padding=True, return_tensors="pt").to(self.device)
        if "pixel_values" in inputs and inputs["pixel_values"].is_floating_point():
            inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
        with torch.inference_mode():
            ids = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        new = ids[:, inputs["input_ids"].shape[1]:]
        outputs = self.tokenizer.batch_decode(new, skip_special_tokens=True)
        special = list(self.tokenizer.all_special_tokens)
        return [clean_output(o, r.prompt, special) for o, r in zip(outputs, requests)]
