"""Benchmark workloads: real IU-Xray reports as references, the same reports shifted as predictions."""

from __future__ import annotations

from pathlib import Path


def rotated_pairs(manifest: str | Path, track: str = "findings", limit: int | None = None,
                  shift: int = 7) -> tuple[list[str], list[str]]:
    """``(predictions, references)``: the track's references of a local IU-Xray test manifest, and
    the same list rotated by ``shift`` studies as predictions (realistic texts, every pair distinct)."""
    from rexrank.datasets.tracks import load_track

    refs = load_track("iu_xray", track, manifest=str(manifest)).references
    refs = refs[:limit] if limit else refs
    return refs[shift:] + refs[:shift], refs
