"""The one place that names every ReXrank test set and track.

The builder, the export, the CLI, the Space's leaderboard and its forms all read this
catalogue; nothing else lists test sets. Pure Python and cheap to import.
"""

from __future__ import annotations

from dataclasses import dataclass

from rexrank.errors import InputError


@dataclass(frozen=True)
class TestSet:
    name: str  # the builder config and the CLI's --dataset
    display: str  # as the leaderboard writes it
    splits: tuple[str, ...]
    extra_fields: tuple[str, ...]  # columns beyond the common ones (None where a study lacks them)
    credentialed_images: bool  # images need a data use agreement: never pushed publicly
    published_suffix: str | None  # suffix of the published ReXrank tables (results/<track prefix>_<suffix>.csv); None: none
    description: str
    pinned_manifest: bool = True  # False: no pinned ReXrank manifest (private, or read from hub_dataset)
    hub_dataset: str | None = None  # a gated Hub dataset the studies are read from (rexrank.datasets.rexgradient)


@dataclass(frozen=True)
class Track:
    name: str
    display: str
    published_prefix: str  # prefix of the published ReXrank table of this track
    description: str


TEST_SETS: dict[str, TestSet] = {t.name: t for t in [
    TestSet("mimic_cxr", "MIMIC-CXR", ("test",), ("subject_id",), True, "mimiccxr",
            "MIMIC-CXR test set as used by ReXrank (2,347 studies); images need PhysioNet credentialed access."),
    TestSet("iu_xray", "IU-Xray", ("test", "validation"), (), False, "iu_xray",
            "IU-Xray (Open-i) test (590) and validation (296) sets as used by ReXrank; images are public "
            "(CC BY-NC-ND 4.0)."),
    TestSet("chexpert_plus", "CheXpert Plus", ("test",), ("clinical_history", "ap_pa", "race", "ethnicity"), True,
            "chexpertplus",
            "CheXpert Plus validation studies used by ReXrank (200); images need the Stanford AIMI data use agreement."),
    TestSet("rexgradient", "ReXGradient", ("test",), ("subject_id", "site"), True, "gradienthealth",
            "ReXGradient private test set (10,000 studies); bring the manifest you were given.", pinned_manifest=False),
    TestSet("rexgradient_160k", "ReXGradient-160K", ("test", "validation"), ("subject_id", "site", "ethnicity"), True,
            None, "ReXGradient-160K public test (10,000) and validation (10,000) studies from the gated Hub dataset "
            "rajpurkarlab/ReXGradient-160K (3 US health systems, 79 sites); accept its data use agreement first.",
            pinned_manifest=False, hub_dataset="rajpurkarlab/ReXGradient-160K"),
]}

TRACKS: dict[str, Track] = {t.name: t for t in [
    Track("findings", "Findings", "findings_result",
          "reference = the findings section; only studies that have one"),
    Track("findings_impression", "Findings + Impression", "result",
          "reference = the full report (findings and impression); every study"),
]}

CONFIGS: tuple[str, ...] = tuple(TEST_SETS)
TRACK_NAMES: tuple[str, ...] = tuple(TRACKS)


def get_test_set(name: str) -> TestSet:
    try:
        return TEST_SETS[name]
    except KeyError:
        raise InputError(f"unknown test set {name!r}; choose one of: {', '.join(CONFIGS)}") from None


def get_track(name: str) -> Track:
    try:
        return TRACKS[name]
    except KeyError:
        raise InputError(f"unknown track {name!r}; choose one of: {', '.join(TRACK_NAMES)}") from None


def published_stem(test_set: str, track: str) -> str | None:
    """The file stem of the published ReXrank table of ``test_set`` × ``track`` (an asset name
    suffix); None for a test set ReXrank publishes no table of (ReXGradient-160K's public test)."""
    suffix = get_test_set(test_set).published_suffix
    return None if suffix is None else f"{get_track(track).published_prefix}_{suffix}"
