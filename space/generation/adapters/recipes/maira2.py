"""MAIRA-2 (microsoft/maira-2) inside its own venv: the model card's reporting recipe.

Runs in the remote-code worker (``space/generation/adapters/remote_worker.py``), never in our process.
Frontal + lateral current images, the study's indication and comparison, no prior study, no
grounding; greedy, one study at a time (the processor formats one study per call).
"""

from __future__ import annotations


def load(message: dict):
    import torch
    from PIL import Image
    from transformers import AutoModelForCausalLM, AutoProcessor

    repo, revision = message["repo_id"], message["revision"]
    dtype = getattr(torch, message.get("dtype") or "float32")
    model = AutoModelForCausalLM.from_pretrained(repo, revision=revision, trust_remote_code=True,
                                                 torch_dtype=dtype).to(message["device"]).eval()
    processor = AutoProcessor.from_pretrained(repo, revision=revision, trust_remote_code=True)
    max_new_tokens = int(message.get("max_new_tokens") or 300)

    def one(request: dict) -> str:
        views = (request.get("context") or {}).get("views") or []
        paths = request["images"]
        frontal = next((p for p, v in zip(paths, views) if v == "frontal"), paths[0])
        lateral = next((p for p, v in zip(paths, views) if v == "lateral"), None)
        context = request.get("context") or {}
        inputs = processor.format_and_preprocess_reporting_input(
            current_frontal=Image.open(frontal).convert("L"),
            current_lateral=Image.open(lateral).convert("L") if lateral else None,
            prior_frontal=None, indication=context.get("indication"), technique=None,
            comparison=context.get("comparison"), prior_report=None, return_tensors="pt", get_grounding=False,
        ).to(message["device"])
        with torch.inference_mode():
            out = model.generate(**inputs, max_new_tokens=max_new_tokens, use_cache=True, do_sample=False)
        text = processor.decode(out[0][inputs["input_ids"].shape[-1]:], skip_special_tokens=True).lstrip()
        return processor.convert_output_to_plaintext_or_grounded_sequence(text)

    def generate(requests: list[dict]) -> list[str]:
        return [one(r) for r in requests]

    return generate, {"transformers": __import__("transformers").__version__, "torch": torch.__version__}
