"""The two ReXrank tracks: which studies are scored and against which reference text.

* ``findings``: only studies that have a findings section; the reference is the findings.
* ``findings_impression``: every study; the reference is the manifest's ``report`` verbatim
  (``reference_style="manifest"``, the default), or the string ReXrank's published evaluation
  script builds, ``f"Findings: {findings} Impression: {impression}"`` with ``None`` for a missing
  section (``reference_style="script"``). The two differ for 723 MIMIC-CXR studies (``None.`` vs
  ``None``) and in whitespace for CheXpert Plus; every result says which one was used.

Every scorer, the CLI and the Space take their study ids and references from here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from rexrank.datasets.manifests import Manifest, load_manifest
from rexrank.datasets.registry import get_track
from rexrank.errors import InputError

REFERENCE_STYLES = ("manifest", "script")


@dataclass
class TrackData:
    """Study ids and reference texts of one track, aligned by position, in manifest order."""

    config: str
    split: str
    track: str
    study_ids: list[str]
    references: list[str]
    manifest_sha256: str
    reference_style: str
    studies: list[dict]
    manifest_source: str = ""  # where the manifest came from (Manifest.source)

    def __len__(self) -> int:
        return len(self.study_ids)

    def reference_by_id(self) -> dict[str, str]:
        return dict(zip(self.study_ids, self.references))


def script_reference(findings: str | None, impression: str | None) -> str:
    """The reference ReXrank's evaluation script builds (a missing section prints as ``None``)."""
    return f"Findings: {findings} Impression: {impression}"


def select_track(manifest: Manifest, track: str, reference_style: str = "manifest") -> TrackData:
    """The studies and references of ``track`` in ``manifest``."""
    get_track(track)
    if reference_style not in REFERENCE_STYLES:
        raise InputError(f"unknown reference_style {reference_style!r}; choose one of: {', '.join(REFERENCE_STYLES)}")
    if track == "findings":
        studies = [s for s in manifest.studies if s["findings"] is not None]
        references = [s["findings"] for s in studies]
    elif reference_style == "manifest":
        studies = list(manifest.studies)
        references = [s["report"] for s in studies]
    else:
        studies = list(manifest.studies)
        references = [script_reference(s["findings"], s["impression"]) for s in studies]
    if not studies:
        raise InputError(f"{manifest.config}/{manifest.split} ({manifest.source}) has no study with findings, "
                         f"so its {track!r} track is empty")
    return TrackData(
        config=manifest.config, split=manifest.split, track=track,
        study_ids=[s["study_id"] for s in studies], references=references,
        manifest_sha256=manifest.sha256, reference_style=reference_style, studies=studies,
        manifest_source=manifest.source,
    )


def load_track(config: str, track: str, split: str = "test", manifest: str | os.PathLike | None = None,
               reference_style: str = "manifest") -> TrackData:
    """Load the ``config``/``split`` manifest (pinned or ``manifest``) and select ``track``."""
    get_track(track)  # fail before any download
    return select_track(load_manifest(config, split, manifest), track, reference_style)
