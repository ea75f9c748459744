"""Official assets, fetched from their source repositories at pinned commits (DESIGN.md §8).

Nothing that another project owns is copied into this one. Each asset is downloaded once
from ``https://raw.githubusercontent.com/<owner>/<repo>/<commit>/<path>``, checked against
its sha256, turned into its *extracted form* without executing anything (``json`` for JSON,
``ast`` for Python source) and cached under the HuggingFace cache root, like a Hub download.
With ``HF_HUB_OFFLINE=1`` only the cache is used and a missing asset is an error that says
how to seed it (``rexrank assets seed``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from rexrank.digests import sha256_bytes
from rexrank.errors import AssetError
from rexrank.files import atomic_write_bytes
from rexrank.importing import import_object

logger = logging.getLogger(__name__)

REXRANK_REPO = ("rajpurkarlab/ReXrank", "8152f99919e4b1b2241bf6d485c51f17e59e8559")
LEADERBOARD_REPO = ("rajpurkarlab/ReXrank", "b7efa9f7ed57340ad52a208223c697bfac105ef5")
GREEN_REPO = ("Stanford-AIMI/GREEN", "d72c1951e69683b93405968901fd4f14cc6c27b0")
FINERADSCORE_REPO = ("rajpurkarlab/FineRadScore", "3f5e1dc708d953a92aca536492d78f4e248c44f6")
RATESCORE_REPO = ("MAGIC-AI4Med/RaTEScore", "a970406b6f4155f7c7a9cb0d29b4fe94437e3361")
MEDSPACY_REPO = ("medspacy/medspacy", "c9f7781f88256190d32eb06480fcea8c4a617382")  # tag 1.3.1, what RaTEScore 0.6.0 runs


@dataclass(frozen=True)
class Source:
    """One raw file in an official repository at a pinned commit."""

    repo: str
    commit: str
    path: str
    sha256: str

    @property
    def url(self) -> str:
        return f"https://raw.githubusercontent.com/{self.repo}/{self.commit}/{self.path}"


@dataclass(frozen=True)
class Asset:
    """An asset: its raw sources, and how to turn them into the form the code reads.

    ``extractor`` is ``"module:function"`` taking ``{path: raw bytes}`` and returning the
    extracted bytes; ``None`` means the single raw file is used as it is.
    ``extracted_sha256`` pins the extracted form too, so a seeded cache is checked as well.
    """

    name: str
    sources: tuple[Source, ...]
    filename: str
    extracted_sha256: str
    extractor: str | None = None
    description: str = ""


def _manifest(name: str, path: str, sha: str, what: str) -> Asset:
    return Asset(name, (Source(*REXRANK_REPO, path, sha),), Path(path).name, sha, description=what)


def _published(stem: str, sha: str) -> Asset:
    path = f"results/{stem}.csv"
    return Asset(f"published/{stem}", (Source(*LEADERBOARD_REPO, path, sha),), f"{stem}.csv", sha,
                 description=f"published ReXrank leaderboard table {stem}")


_PUBLISHED = {
    "findings_result_chexpertplus": "1aa646f7cfb2d903c1458476c4a32605e10946d67895549c3d09f48b73e99707",
    "findings_result_gradienthealth": "f9490a934a5503214c7e8a07a74109fac22fede080e0abdb41e24640ffdf56b9",
    "findings_result_iu_xray": "1125e4787d78b2fa930681ed7fadecbc7e4539a6e527923581602ce9ddb197db",
    "findings_result_mimiccxr": "f7058aae34e26265542561747486deff2fa4382d7ed7d90d867b9fdd7e6ab97a",
    "result_chexpertplus": "5f0d2a61ad9f11a742617a6efb90850acbe53c11bb336aa6d00c134b02698e41",
    "result_gradienthealth": "a21d0098e6680c95dd584e6e80a87774ae71fe13e95185e80b10f397054c46d6",
    "result_iu_xray": "161bbe3a3c35c7c1477155471ac62b256e26a6bc15b79c837055df3337b4b010",
    "result_mimiccxr": "908ad5951f1fcfc69113826ebe715d8cb518845b94949d9fe90af7176261128a",
}

ASSETS: dict[str, Asset] = {
    a.name: a
    for a in [
        _manifest("manifest/mimic_cxr/test", "data/mimic-cxr/ReXRank_MIMICCXR_test.json",
                  "39fe05a446cebd7af4507681cc423b04409eaf8d205ad40b6a043168a14059df", "MIMIC-CXR test manifest"),
        _manifest("manifest/iu_xray/test", "data/iu_xray/ReXRank_IUXray_test.json",
                  "4d30a534525e3d92acacaef329ad35a2429b8853b45ef9003e3034b9c9db8464", "IU-Xray test manifest"),
        _manifest("manifest/iu_xray/validation", "data/iu_xray/ReXRank_IUXray_valid.json",
                  "1f1810aefde816cbdfa1d06ce878311dc5b589ebb6ebd3cc2d1d9aed20892b7d", "IU-Xray validation manifest"),
        _manifest("manifest/chexpert_plus/test", "data/chexpert_plus/ReXRank_CheXpertPlus.json",
                  "dbfce88f69a646d1e21c77b46545bd948bce4101cec8b209d1883ee104a3fef3", "CheXpert Plus valid manifest"),
        *(_published(stem, sha) for stem, sha in _PUBLISHED.items()),
        Asset("green/prompt", (Source(*GREEN_REPO, "green_score/utils.py",
                                      "285e076c8707dc5d506497b922d44e73458e0a88de69bfc73ee07a37e9fd1062"),),
              "green_prompt.txt", "11c4377a6636dffe121d087eb26a671ac6551bce05874829b40e97b84c6c5caf",
              extractor="rexrank.metrics.scorers.green.prompt:extract_green_prompt",
              description="GREEN prompt template (make_prompt), <<REFERENCE>>/<<CANDIDATE>> placeholders"),
        Asset("fineradscore/fewshot",
              (Source(*FINERADSCORE_REPO, "few_shot_prompt.py",
                      "450e499499423de76a1e98a70042c42a024ae19754bf7f03365e99eb036eb711"),
               Source(*FINERADSCORE_REPO, "gpt4_generations.py",
                      "3ec94336153d0118bb8ea03aa3c1d07264cd10d50829959b97051f386ed2d2bb")),
              "fineradscore_fewshot_gpt4.json", "df1c8552f2cc4d44296cac5f637477e05ce0c98d440be3d83d17e6e606d2bc29",
              extractor="rexrank.metrics.scorers.fineradscore.prompt:extract_fineradscore_messages",
              description="FineRadScore few-shot messages (GPT-4 path)"),
        Asset("ratescore/long_weight", (Source(*RATESCORE_REPO, "affinity_matrix/long_weight.json",
                                               "b4b81ad9c604e79cb8967ac85f6602bfc2b8b07ad0e1c9ef7f27018e611389b6"),),
              "long_weight.json", "b4b81ad9c604e79cb8967ac85f6602bfc2b8b07ad0e1c9ef7f27018e611389b6",
              description="RaTEScore entity-type affinity matrix (long)"),
        Asset("ratescore/short_weight", (Source(*RATESCORE_REPO, "affinity_matrix/short_weight.json",
                                                "68c852a920eba0b7751ad7d124fbd146c209a7874fbc96bfb84d3e30012812f5"),),
              "short_weight.json", "68c852a920eba0b7751ad7d124fbd146c209a7874fbc96bfb84d3e30012812f5",
              description="RaTEScore entity-type affinity matrix (short)"),
        Asset("ratescore/rush_rules", (Source(*MEDSPACY_REPO, "resources/en/rush_rules.tsv",
                                              "35652fa4c72f95fe1a10279c6a88bec814c2b34dea229f60fbfde63c6af4571a"),),
              "rush_rules.tsv", "35652fa4c72f95fe1a10279c6a88bec814c2b34dea229f60fbfde63c6af4571a",
              description="medspacy's English PyRuSH sentence rules (RaTEScore's sentence splitting)"),
    ]
}


def cache_root() -> Path:
    """``$REXRANK_ASSETS_CACHE``, else ``$HF_HOME/rexrank/assets`` (HF_HOME defaults to ~/.cache/huggingface)."""
    if os.environ.get("REXRANK_ASSETS_CACHE"):
        return Path(os.environ["REXRANK_ASSETS_CACHE"])
    hf_home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "huggingface")
    return Path(hf_home) / "rexrank" / "assets"


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def cached_path(asset: Asset) -> Path:
    """Where the extracted form of ``asset`` lives in the cache."""
    key = "--".join(f"{s.repo.replace('/', '--')}@{s.commit[:12]}" for s in asset.sources[:1])
    return cache_root() / asset.name / key / asset.filename


def _download(source: Source, timeout: float = 60.0) -> bytes:
    import requests

    logger.info("downloading %s", source.url)
    try:
        response = requests.get(source.url, timeout=timeout)
        response.raise_for_status()
    except Exception as err:  # network errors of every kind end in the same advice
        raise AssetError(
            f"could not download {source.url}: {err}. Without network access, seed the cache from a copy: "
            f"`rexrank assets seed DIR` (see `rexrank assets --help`)."
        ) from err
    return response.content


def _check(data: bytes, expected: str, what: str) -> None:
    actual = sha256_bytes(data)
    if actual != expected:
        raise AssetError(f"{what}: sha256 {actual} does not match the pinned {expected}; "
                         "the file is corrupt or not the pinned version. Delete it and fetch again.")


def extract(asset: Asset, raw: dict[str, bytes]) -> bytes:
    """Turn the raw sources of ``asset`` into its extracted form (never executes them)."""
    if asset.extractor is None:
        (data,) = raw.values()
        return data
    func: Callable[[dict[str, bytes]], bytes] = import_object(asset.extractor)
    return func(raw)


def fetch(name: str) -> Path:
    """Path of the verified, extracted asset ``name``; downloads it unless cached or offline."""
    asset = get_asset(name)
    path = cached_path(asset)
    if path.is_file():
        _check(path.read_bytes(), asset.extracted_sha256, f"cached asset {name!r} at {path}")
        return path
    if _offline():
        raise AssetError(
            f"asset {name!r} ({asset.description}) is not in the cache at {path} and HF_HUB_OFFLINE is set. "
            f"Fetch it once online (`rexrank assets fetch {name}`) or seed it from a copy of "
            f"{asset.filename} (`rexrank assets seed DIR`)."
        )
    raw = {}
    for source in asset.sources:
        data = _download(source)
        _check(data, source.sha256, f"downloaded {source.url}")
        raw[source.path] = data
    extracted = extract(asset, raw)
    _check(extracted, asset.extracted_sha256, f"extracted form of {name!r}")
    atomic_write_bytes(path, extracted)
    return path


def read_bytes(name: str) -> bytes:
    return fetch(name).read_bytes()


def read_text(name: str) -> str:
    return read_bytes(name).decode("utf-8")


def read_json(name: str):
    import json

    return json.loads(read_bytes(name))


def get_asset(name: str) -> Asset:
    try:
        return ASSETS[name]
    except KeyError:
        raise AssetError(f"unknown asset {name!r}; known: {', '.join(sorted(ASSETS))}") from None


def seed(name: str, file: str | os.PathLike) -> Path:
    """Put a local copy of an asset's extracted form into the cache, after checking its sha256."""
    asset = get_asset(name)
    data = Path(file).read_bytes()
    _check(data, asset.extracted_sha256, f"{file} (seeding {name!r})")
    path = cached_path(asset)
    atomic_write_bytes(path, data)
    return path


def seed_directory(directory: str | os.PathLike) -> list[str]:
    """Seed every asset whose extracted file name is found (recursively) under ``directory``.

    Works on a checkout of ``../shared/data`` or on any folder holding the files.
    """
    found = {p.name: p for p in Path(directory).rglob("*") if p.is_file()}
    seeded = []
    for name, asset in ASSETS.items():
        candidate = found.get(asset.filename)
        if candidate is not None and sha256_bytes(candidate.read_bytes()) == asset.extracted_sha256:
            seed(name, candidate)
            seeded.append(name)
    return seeded
