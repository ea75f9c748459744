"""transformers ``VisionEncoderDecoderModel`` checkpoints (the CheXpert-Plus baselines).

``IAMJB/chexpert-mimic-cxr-findings-baseline`` and its siblings are a vision encoder plus a text
decoder with an image processor and a tokenizer; the image-to-text pipeline does not handle
them, so we call ``generate`` on the pixel values directly, with the decoding the checkpoint's
own ``generation_config.json`` asks for (only the length is ours). One image per study: the
encoder takes one image, so the key (frontal) image.
"""

from __future__ import annotations

from typing import Any, Sequence

from rexrank.space.generation.adapters.base import Adapter, Request, clean_output, load_images


class VisionEncoderDecoderAdapter(Adapter):
    name = "vision-encoder-decoder"
    max_images = 1
    uses_prompt = False

    def load(self) -> None:
        from transformers import AutoImageProcessor, AutoTokenizer, VisionEncoderDecoderModel

        from rexrank.metrics.runtime.models import ModelRef, from_pretrained_strict, resolve

        resolved = resolve(ModelRef(self.choice.repo_id, self.choice.revision))
        what = f"report generator {self.choice.spec}"
        self.model = from_pretrained_strict(VisionEncoderDecoderModel, resolved.path, what,
                                            trust_remote_code=False, dtype=self.dtype).to(self.device).eval()
        self.image_processor = AutoImageProcessor.from_pretrained(resolved.path, trust_remote_code=False)
        self.tokenizer = AutoTokenizer.from_pretrained(resolved.path, trust_remote_code=False)
        gen = self.model.generation_config
        if gen.decoder_start_token_id is None and self.model.config.decoder_start_token_id is None:
            # BERT-decoder baselines start from [CLS], as their model card's recipe does.
            gen.decoder_start_token_id = self.tokenizer.cls_token_id or self.tokenizer.bos_token_id
        if gen.pad_token_id is None:
            gen.pad_token_id = self.tokenizer.pad_token_id

    def generate_batch(self, requests: Sequence[Request]) -> list[str]:
        import torch

        images = [load_images(r.images, r.study_id)[0] for r in requests]
        pixel_values = self.image_processor(images=images, return_tensors="pt").pixel_values
        pixel_values = pixel_values.to(self.device, dtype=self.model.dtype)
        with torch.inference_mode():
            ids = self.model.generate(pixel_values=pixel_values, max_new_tokens=self.max_new_tokens)
        texts = self.tokenizer.batch_decode(ids, skip_special_tokens=True)
        return [clean_output(t, None, self.tokenizer.all_special_tokens) for t in texts]

    def decoding(self) -> str:
        gen = getattr(getattr(self, "model", None), "generation_config", None)
        if gen is None:
            return "checkpoint generation_config"
        beams = gen.num_beams or 1
        return f"checkpoint generation_config: {'beam search, ' + str(beams) + ' beams' if beams > 1 else 'greedy'}"

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "decoding": self.decoding()}
