"""Tracks: exact counts on the pinned IU-Xray manifests, references per DESIGN.md §3/§7.1."""

from __future__ import annotations

import json

import pytest

from rexrank.datasets.manifests import load_manifest
from rexrank.datasets.registry import TRACK_NAMES as TRACKS
from rexrank.datasets.tracks import load_track, select_track
from rexrank.errors import InputError
from tests.test_manifests import CHEXPERT_LIKE, MIMIC_LIKE, write


@pytest.mark.parametrize("split, studies, findings, findings_impression", [
    ("test", 590, 590, 590),
    ("validation", 296, 296, 296),
])
def test_iu_xray_track_counts(split, studies, findings, findings_impression):
    manifest = load_manifest("iu_xray", split)
    assert len(manifest) == studies
    f = select_track(manifest, "findings")
    fi = select_track(manifest, "findings_impression")
    assert (len(f), len(fi)) == (findings, findings_impression)
    assert f.references == [s["findings"] for s in manifest.studies]
    assert fi.references == [s["report"] for s in manifest.studies]
    # IU-Xray has every section, so the evaluation script's string equals the manifest's report here.
    assert select_track(manifest, "findings_impression", "script").references == fi.references
    assert f.manifest_sha256 == manifest.sha256 and f.config == "iu_xray" and f.split == split
    assert len(set(f.study_ids)) == len(f.study_ids)


def test_load_track_reads_the_pinned_or_a_local_manifest(iu_manifests):
    pinned = load_track("iu_xray", "findings")
    local = load_track("iu_xray", "findings", manifest=iu_manifests["test"])
    assert pinned.study_ids[0] == "CXR3030_IM-1405" and len(pinned) == 590
    assert local.study_ids == pinned.study_ids and local.references == pinned.references
    assert pinned.reference_by_id()["CXR3030_IM-1405"].startswith("Normal cardiomediastinal silhouette.")


def test_findings_track_keeps_only_studies_with_findings(tmp_path):
    manifest = load_manifest("mimic_cxr", manifest=write(tmp_path, MIMIC_LIKE))
    f = select_track(manifest, "findings")
    assert f.study_ids == ["50051329", "50200000", "50300000"]  # 50100000 has findings "nan"
    assert f.references == ["The lungs are low in volume.\nNo pneumothorax.", "Heart size normal.", "Clear lungs."]
    fi = select_track(manifest, "findings_impression")
    assert fi.study_ids == ["50051329", "50100000", "50200000", "50300000"]
    assert fi.references[1] == "Findings: None. Impression: No acute process."
    assert fi.reference_style == "manifest"


def test_script_reference_style_prints_missing_sections_as_None(tmp_path):
    manifest = load_manifest("mimic_cxr", manifest=write(tmp_path, MIMIC_LIKE))
    script = select_track(manifest, "findings_impression", reference_style="script")
    assert script.reference_style == "script"
    assert script.references == [
        "Findings: The lungs are low in volume.\nNo pneumothorax. Impression: None",
        "Findings: None Impression: No acute process.",
        "Findings: Heart size normal. Impression: None",
        "Findings: Clear lungs. Impression: Normal.",
    ]
    chexpert = load_manifest("chexpert_plus", manifest=write(tmp_path, CHEXPERT_LIKE, "c.json"))
    assert select_track(chexpert, "findings_impression", "script").references[0] == \
        "Findings: None Impression: \n1. NO SIGNIFICANT INTERVAL\nCHANGE.\n"
    assert select_track(chexpert, "findings").study_ids == ["patient64678_study1"]


def test_bad_track_or_style_and_an_empty_findings_track(tmp_path):
    manifest = load_manifest("iu_xray")
    with pytest.raises(InputError, match="unknown track 'impression'"):
        select_track(manifest, "impression")
    with pytest.raises(InputError, match="unknown reference_style"):
        select_track(manifest, "findings_impression", reference_style="paper")
    with pytest.raises(InputError, match="unknown track"):
        load_track("iu_xray", "both")
    only_impressions = {"s1": {"image_path": ["a.png"], "section_findings": float("nan"), "section_impression": "Normal.",
                               "report": "Findings: None. Impression: Normal."}}
    path = tmp_path / "m.json"
    path.write_text(json.dumps(only_impressions))
    with pytest.raises(InputError, match="no study with findings"):
        load_track("chexpert_plus", "findings", manifest=path)
    assert len(load_track("chexpert_plus", "findings_impression", manifest=path)) == 1
    assert TRACKS == ("findings", "findings_impression")
