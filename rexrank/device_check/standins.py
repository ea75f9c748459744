"""Build every model the metrics and generation use, as random-weight stand-ins, in the HF cache.

Each goes under its real repo id (``rexrank.testing.hubcache``) so the scorers load it exactly
as they load the real one; GREEN and the report generators are local folders (their scorer and
adapters take a folder). Sizes: ``real`` (the real configurations) or ``tiny`` (``--quick``).
RadGraph's archive is written without the official package (``build_radgraph_native``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)


@dataclass
class Built:
    """Where the stand-ins are, and how long each took to build."""

    green_parity: Path  # GREEN's architecture and tokenizer, small enough for the CPU side of the parity check
    green: Path  # GREEN as large as the device allows (Llama-2-7B shapes on a GPU)
    ved: Path
    chat: Path
    seconds: dict[str, float] = field(default_factory=dict)
    sizes: dict[str, str] = field(default_factory=dict)


def _timed(seconds: dict[str, float], name: str, build):
    start = time.perf_counter()
    out = build()
    seconds[name] = round(time.perf_counter() - start, 1)
    logger.info("built %s in %.1f s", name, seconds[name])
    return out


def build_all(root: Path, *, size: str, green_size: str, generation_size: str, device: str,
              corpus: list[str]) -> Built:
    """Every stand-in under ``root``; scorer models go into the current ``HF_HUB_CACHE``."""
    import torch

    from rexrank import assets
    from rexrank.testing import hubcache
    from rexrank.testing.standins import core, generation, green, radgraph, ratescore

    seconds: dict[str, float] = {}

    def distilroberta():
        hubcache.put_folder("distilbert/distilroberta-base", core.build_distilroberta(root / "distilroberta", size=size))

    def chexbert():
        built = core.build_chexbert(root / "chexbert", size=size)
        hubcache.put_folder("google-bert/bert-base-uncased", built["bert"])
        hubcache.put_files("StanfordAIMI/RRG_scorers", {"chexbert.pth": built["chexbert"]})

    def radgraph_model():
        radgraph.store_in_hub_cache(radgraph.build_all(root / "radgraph", size=size, extra_texts=corpus, native=True))

    def ratescore_models():
        hubcache.put_folder(ratescore.NER_REPO, ratescore.build_ner(root / "ner", size, corpus=corpus[:200]))
        hubcache.put_folder(ratescore.BIOLORD_REPO, ratescore.build_biolord(root / "biolord", size, corpus=corpus[:200]))

    template = assets.read_text("green/prompt")
    _timed(seconds, "distilroberta", distilroberta)
    _timed(seconds, "chexbert", chexbert)
    _timed(seconds, "radgraph", radgraph_model)
    _timed(seconds, "ratescore", ratescore_models)
    parity_size = "tiny" if size == "tiny" else "small"
    green_parity = _timed(seconds, f"green-{parity_size}", lambda: green.build_green(
        root / f"green-{parity_size}", size=parity_size, prompt_template=template))
    big = green_parity if green_size == parity_size else _timed(seconds, f"green-{green_size}", lambda: green.build_green(
        root / f"green-{green_size}", size=green_size, prompt_template=template, device=device))
    half = torch.bfloat16 if device.startswith("cuda") else None
    ved = _timed(seconds, f"ved-{generation_size}", lambda: generation.build_ved(
        root / "ved", size=generation_size, device=device, dtype=half))
    chat = _timed(seconds, f"chat-vlm-{generation_size}", lambda: generation.build_llava(
        root / "llava", size=generation_size, device=device, dtype=half))
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return Built(green_parity, big, ved, chat, seconds,
                 {"scorers": size, "green_parity": parity_size, "green": green_size, "generation": generation_size})
