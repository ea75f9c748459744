"""Manifests: the pinned IU-Xray files, every quirk of DESIGN.md §3 normalised, and the errors users see."""

from __future__ import annotations

import collections
import json
import logging
import math

import pytest

from rexrank.datasets.manifests import load_manifest, normalise_view, parse_context
from rexrank.datasets.registry import TEST_SETS
from rexrank import assets
from rexrank.errors import AssetError, InputError

NAN = float("nan")


def write(tmp_path, obj, name="manifest.json"):
    path = tmp_path / name
    path.write_text(json.dumps(obj, allow_nan=True))  # JSON NaN, exactly as the published files
    return path


def no_nan_anywhere(rows):
    for row in rows:
        for key, value in row.items():
            values = value if isinstance(value, list) else [value]
            for v in values:
                assert not (isinstance(v, float) and math.isnan(v)), (row["study_id"], key)
                assert not (isinstance(v, str) and v.strip().lower() == "nan"), (row["study_id"], key)


# --------------------------------------------------------------------------- the pinned IU-Xray manifests

def test_iu_xray_test_from_the_pinned_asset():
    m = load_manifest("iu_xray")
    assert len(m) == 590
    assert m.sha256 == "4d30a534525e3d92acacaef329ad35a2429b8853b45ef9003e3034b9c9db8464"
    assert m.source == "rajpurkarlab/ReXrank@8152f99919e4b1b2241bf6d485c51f17e59e8559:data/iu_xray/ReXRank_IUXray_test.json"
    assert m.matches_pinned is True
    assert m.studies[0] == {
        "study_id": "CXR3030_IM-1405",
        "image_paths": ["CXR3030_IM-1405/0.png", "CXR3030_IM-1405/1.png"],
        "views": ["frontal", "lateral"],
        "key_image": "CXR3030_IM-1405/0.png",
        "indication": "Chest pain, dyspnea",
        "comparison": "None.",
        "age": None,
        "sex": None,
        "findings": "Normal cardiomediastinal silhouette. There is no focal consolidation. There are no XXXX of a "
                    "large pleural effusion. There is no pneumothorax. There is no acute bony abnormality seen.",
        "impression": "There is no radiographic evidence of acute cardiopulmonary disease.",
        "report": "Findings: Normal cardiomediastinal silhouette. There is no focal consolidation. There are no XXXX "
                  "of a large pleural effusion. There is no pneumothorax. There is no acute bony abnormality seen. "
                  "Impression: There is no radiographic evidence of acute cardiopulmonary disease.",
    }
    # 46 studies list views that do not match their two images: all 'unknown'.
    assert collections.Counter(v for s in m.studies for v in s["views"]) == {"lateral": 545, "frontal": 543, "unknown": 92}
    assert sum(s["views"] == ["unknown", "unknown"] for s in m.studies) == 46
    assert sum(s["indication"] is None for s in m.studies) == 8
    assert sum(s["comparison"] is None for s in m.studies) == 0
    no_nan_anywhere(m.studies)


def test_iu_xray_validation_and_the_same_file_given_locally(iu_manifests, caplog):
    pinned = load_manifest("iu_xray", "validation")
    assert len(pinned) == 296
    assert pinned.sha256 == "1f1810aefde816cbdfa1d06ce878311dc5b589ebb6ebd3cc2d1d9aed20892b7d"
    assert sum(s["views"] == ["unknown", "unknown"] for s in pinned.studies) == 22
    with caplog.at_level(logging.INFO, logger="rexrank.datasets.manifests"):
        local = load_manifest("iu_xray", "validation", manifest=iu_manifests["validation"])
    assert local.studies == pinned.studies
    assert local.source == str(iu_manifests["validation"]) and local.matches_pinned is True
    assert "matches the pinned official iu_xray/validation manifest" in caplog.text


def test_a_modified_local_copy_of_a_public_manifest_is_used_and_flagged(iu_manifests, tmp_path, caplog):
    raw = json.loads(iu_manifests["test"].read_text())
    del raw["CXR3030_IM-1405"]
    path = write(tmp_path, raw)
    with caplog.at_level(logging.WARNING, logger="rexrank.datasets.manifests"):
        m = load_manifest("iu_xray", "test", manifest=path)
    assert len(m) == 589 and m.matches_pinned is False
    assert "is not the pinned official iu_xray/test manifest" in caplog.text
    assert "not comparable with the ReXrank leaderboard" in caplog.text


# --------------------------------------------------------------------------- quirks, exact rows

MIMIC_LIKE = {
    "50051329": {
        "image_path": ["/p10/p10046166/s50051329/aaa.jpg", "/p10/p10046166/s50051329/bbb.jpg"],
        "section_findings": "The lungs are low in volume.\nNo pneumothorax.",
        "section_impression": NAN,
        "frontal_lateral": ["lateral", "antero-posterior"],
        "split": "test",
        "subject_id": 10046166,
        "context": "Age:50-60.Gender:M.Indication: ___-year-old male with melanoma.Comparison: Chest radiograph from ___.",
        "key_image_path": "/p10/p10046166/s50051329/bbb.jpg",
        "report": "Findings: The lungs are low in volume.\nNo pneumothorax. Impression: None.",
    },
    "50100000": {
        "image_path": ["/p11/p11000000/s50100000/ccc.jpg", "/p11/p11000000/s50100000/ddd.jpg", "/p11/p11000000/s50100000/eee.jpg"],
        "section_findings": "nan",
        "section_impression": "No acute process.",
        "frontal_lateral": [NAN, "left lateral", "Erect"],
        "split": "test",
        "subject_id": 11000000,
        "context": "Age:None.Gender:None.Comparison: ___ radiograph.",
        "key_image_path": "/p11/p11000000/s50100000/ccc.jpg",
        "report": "Findings: None. Impression: No acute process.",
    },
    "50200000": {
        "image_path": ["/p12/p12000000/s50200000/fff.jpg"],
        "section_findings": "Heart size normal.",
        "section_impression": "   ",
        "frontal_lateral": ["postero-anterior"],
        "split": "test",
        "subject_id": 12000000,
        "context": "",
        "key_image_path": "/p12/p12000000/s50200000/fff.jpg",
        "report": "Findings: Heart size normal. Impression: None.",
    },
    "50300000": {
        "image_path": ["/p13/p13000000/s50300000/ggg.jpg"],
        "section_findings": "Clear lungs.",
        "section_impression": "Normal.",
        "frontal_lateral": ["antero-posterior"],
        "split": "test",
        "subject_id": 13000000,
        "context": "Indication: Evaluate for pathology.",
        "key_image_path": "/p13/p13000000/s50300000/ggg.jpg",
        "report": "Findings: Clear lungs. Impression: Normal.",
    },
}

MIMIC_EXPECTED = [
    {"study_id": "50051329",
     "image_paths": ["p10/p10046166/s50051329/aaa.jpg", "p10/p10046166/s50051329/bbb.jpg"],
     "views": ["lateral", "frontal"], "key_image": "p10/p10046166/s50051329/bbb.jpg",
     "indication": "___-year-old male with melanoma.", "comparison": "Chest radiograph from ___.",
     "age": "50-60", "sex": "M", "findings": "The lungs are low in volume.\nNo pneumothorax.", "impression": None,
     "report": "Findings: The lungs are low in volume.\nNo pneumothorax. Impression: None.", "subject_id": "10046166"},
    {"study_id": "50100000",
     "image_paths": ["p11/p11000000/s50100000/ccc.jpg", "p11/p11000000/s50100000/ddd.jpg", "p11/p11000000/s50100000/eee.jpg"],
     "views": ["unknown", "lateral", "unknown"], "key_image": "p11/p11000000/s50100000/ccc.jpg",
     "indication": None, "comparison": "___ radiograph.", "age": None, "sex": None,
     "findings": None, "impression": "No acute process.",
     "report": "Findings: None. Impression: No acute process.", "subject_id": "11000000"},
    {"study_id": "50200000", "image_paths": ["p12/p12000000/s50200000/fff.jpg"], "views": ["frontal"],
     "key_image": "p12/p12000000/s50200000/fff.jpg", "indication": None, "comparison": None, "age": None, "sex": None,
     "findings": "Heart size normal.", "impression": None,
     "report": "Findings: Heart size normal. Impression: None.", "subject_id": "12000000"},
    {"study_id": "50300000", "image_paths": ["p13/p13000000/s50300000/ggg.jpg"], "views": ["frontal"],
     "key_image": "p13/p13000000/s50300000/ggg.jpg", "indication": "Evaluate for pathology.", "comparison": None,
     "age": None, "sex": None, "findings": "Clear lungs.", "impression": "Normal.",
     "report": "Findings: Clear lungs. Impression: Normal.", "subject_id": "13000000"},
]


def test_mimic_quirks_normalise_to_exact_rows(tmp_path):
    path = write(tmp_path, MIMIC_LIKE)
    assert "NaN" in path.read_text()  # the file really carries JSON NaN
    m = load_manifest("mimic_cxr", "test", manifest=path)
    assert m.studies == MIMIC_EXPECTED
    assert m.matches_pinned is False
    no_nan_anywhere(m.studies)


CHEXPERT_LIKE = {
    "patient64620_study1": {
        "image_path": ["valid/patient64620/study1/view1_frontal.png"],
        "report": "Findings: None. Impression: 1. NO SIGNIFICANT INTERVAL\nCHANGE.",
        "context": "Age:77.0.Gender:F.Indication:nanComparison: None.",
        "section_clinical_history": NAN,
        "section_findings": NAN,
        "section_impression": "\n1. NO SIGNIFICANT INTERVAL\nCHANGE.\n",
        "frontal_lateral": ["Frontal"],
        "ap_pa": ["AP"],
        "age": 77.0,
        "sex": "Female",
        "race": "White",
        "ethnicity": "Non-Hispanic/Non-Latino",
        "key_image_path": "valid/patient64620/study1/view1_frontal.png",
    },
    "patient64678_study1": {
        "image_path": ["valid/patient64678/study1/view1_frontal.png", "valid/patient64678/study1/view2_lateral.png"],
        "report": "Findings: Stable lines. Impression: No change.",
        "context": "Age:nan.Gender:U.Indication: 72 years Male Secretions, edema \n \nComparison: None.",
        "section_clinical_history": " 72 years Male Secretions, edema \n \n",
        "section_findings": "Stable lines.",
        "section_impression": "No change.",
        "frontal_lateral": ["Frontal", "Lateral"],
        "ap_pa": ["PA", NAN],
        "age": NAN,
        "sex": "Unknown",
        "race": "Unknown",
        "ethnicity": "Patient Refused",
        "key_image_path": "valid/patient64678/study1/view1_frontal.png",
    },
}

CHEXPERT_EXPECTED = [
    {"study_id": "patient64620_study1", "image_paths": ["valid/patient64620/study1/view1_frontal.png"],
     "views": ["frontal"], "key_image": "valid/patient64620/study1/view1_frontal.png",
     "indication": None, "comparison": "None.", "age": "77", "sex": "F",
     "findings": None, "impression": "\n1. NO SIGNIFICANT INTERVAL\nCHANGE.\n",
     "report": "Findings: None. Impression: 1. NO SIGNIFICANT INTERVAL\nCHANGE.",
     "clinical_history": None, "ap_pa": ["AP"], "race": "White", "ethnicity": "Non-Hispanic/Non-Latino"},
    {"study_id": "patient64678_study1",
     "image_paths": ["valid/patient64678/study1/view1_frontal.png", "valid/patient64678/study1/view2_lateral.png"],
     "views": ["frontal", "lateral"], "key_image": "valid/patient64678/study1/view1_frontal.png",
     "indication": "72 years Male Secretions, edema", "comparison": "None.", "age": None, "sex": None,
     "findings": "Stable lines.", "impression": "No change.", "report": "Findings: Stable lines. Impression: No change.",
     "clinical_history": "72 years Male Secretions, edema", "ap_pa": ["PA", None], "race": "Unknown",
     "ethnicity": "Patient Refused"},
]


def test_chexpert_plus_quirks_normalise_to_exact_rows(tmp_path):
    m = load_manifest("chexpert_plus", "test", manifest=write(tmp_path, CHEXPERT_LIKE))
    assert m.studies == CHEXPERT_EXPECTED
    no_nan_anywhere(m.studies)


def test_rexgradient_needs_a_manifest_and_keeps_its_site(tmp_path):
    with pytest.raises(InputError, match=r"no public manifest.*--manifest FILE"):
        load_manifest("rexgradient")
    entry = {"image_path": ["a/1.png"], "section_findings": "Clear.", "section_impression": None,
             "report": "Findings: Clear. Impression: None.", "site": "Site 7", "subject_id": "P0001",
             "frontal_lateral": ["PA"], "context": "Age:40-50.Gender:F.Indication: Cough."}
    m = load_manifest("rexgradient", manifest=write(tmp_path, {"GRDN001": entry}))
    assert m.matches_pinned is None
    assert m.studies == [{"study_id": "GRDN001", "image_paths": ["a/1.png"], "views": ["frontal"], "key_image": None,
                          "indication": "Cough.", "comparison": None, "age": "40-50", "sex": "F",
                          "findings": "Clear.", "impression": None, "report": "Findings: Clear. Impression: None.",
                          "subject_id": "P0001", "site": "Site 7"}]


@pytest.mark.parametrize("word, view", [
    ("Frontal", "frontal"), ("antero-posterior", "frontal"), ("postero-anterior", "frontal"), ("AP", "frontal"),
    ("PA", "frontal"), ("AP AXIAL", "frontal"), ("Lateral", "lateral"), ("left lateral", "lateral"), ("LL", "lateral"),
    ("Erect", "unknown"), ("LAO", "unknown"), ("", "unknown"), (None, "unknown"),
])
def test_view_words(word, view):
    assert normalise_view(word) == view


@pytest.mark.parametrize("context, expected", [
    ("Age:50-60.Gender:M.Indication: Intubated, evaluate ET tube.", ("Intubated, evaluate ET tube.", None, "50-60", "M")),
    ("Age:77.0.Gender:F.Indication:nanComparison: None.", (None, "None.", "77.0", "F")),
    ("Indication: INDICATION: PAIN; Comparison: XXXX", ("INDICATION: PAIN;", "XXXX", None, None)),
    ("Indication: Dyspnea Comparison: Chest 2 views, XXXX at 23: 56", ("Dyspnea", "Chest 2 views, XXXX at 23: 56", None, None)),
    (" Comparison: None Indication PRE LIVER TRANSPLANT", (None, "None Indication PRE LIVER TRANSPLANT", None, None)),
    ("<context>Age:40-50.Gender:F.Comparison: ___ radiograph.</context>", (None, "___ radiograph.", "40-50", "F")),
    ("Age:None.Gender:None.", (None, None, None, None)),
    ("", (None, None, None, None)),
    (None, (None, None, None, None)),
])
def test_context_is_unpacked(context, expected):
    parsed = parse_context(context)
    assert (parsed["indication"], parsed["comparison"], parsed["age"], parsed["sex"]) == expected


# --------------------------------------------------------------------------- errors users see

GOOD = {"image_path": ["x/0.png"], "section_findings": "Clear.", "section_impression": "Normal.",
        "report": "Findings: Clear. Impression: Normal."}


@pytest.mark.parametrize("content, message", [
    (b"{not json", r"is not valid JSON"),
    (b"\xff\xfe{}", r"is not UTF-8"),
    (b'[{"study_id": "s1"}]', r"holds a JSON list, not an object keyed by study id"),
    (b"{}", r"has no studies"),
    (json.dumps({"s1": "Findings: x"}).encode(), r"study 's1': expected an object of fields, got str"),
    (json.dumps({"s1": {k: v for k, v in GOOD.items() if k != "report"}}).encode(), r"study 's1' has no 'report' field"),
    (json.dumps({"s1": {**GOOD, "image_path": "x/0.png"}}).encode(), r"study 's1', field 'image_path': expected a list"),
    (json.dumps({"s1": {**GOOD, "section_findings": 12}}).encode(), r"study 's1', field 'section_findings': expected a string"),
    (json.dumps({"s1": {**GOOD, "report": NAN}}).encode(), r"study 's1', field 'report': expected a non-empty string"),
    (json.dumps({"s1": {**GOOD, "frontal_lateral": [1]}}).encode(), r"study 's1', field 'frontal_lateral'"),
    (json.dumps({"s1": {**GOOD, "subject_id": True}}).encode(), r"study 's1', field 'subject_id'"),
    (b'{"s1": ' + json.dumps(GOOD).encode() + b', "s1": ' + json.dumps(GOOD).encode() + b"}", r"repeats the key\(s\) 's1'"),
])
def test_malformed_manifests_name_the_study_and_field(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        load_manifest("mimic_cxr", manifest=path)


def test_missing_file_unknown_config_and_split(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_manifest("iu_xray", manifest=tmp_path / "nope.json")
    with pytest.raises(InputError, match="unknown test set 'mimic'.*mimic_cxr"):
        load_manifest("mimic")
    with pytest.raises(InputError, match="'chexpert_plus' has no split 'validation'"):
        load_manifest("chexpert_plus", "validation")


def test_a_corrupt_cached_manifest_fails_its_checksum(tmp_path, monkeypatch):
    monkeypatch.setenv("REXRANK_ASSETS_CACHE", str(tmp_path / "cache"))
    path = assets.cached_path(assets.get_asset("manifest/iu_xray/test"))
    path.parent.mkdir(parents=True)
    path.write_text('{"CXR1_IM-0001": {}}')
    with pytest.raises(AssetError, match=r"sha256 .* does not match the pinned 4d30a534.*Delete it and fetch again"):
        load_manifest("iu_xray")


def test_offline_without_the_asset_says_how_to_seed(tmp_path, monkeypatch):
    monkeypatch.setenv("REXRANK_ASSETS_CACHE", str(tmp_path / "empty"))
    with pytest.raises(AssetError, match=r"HF_HUB_OFFLINE is set.*rexrank assets seed DIR"):
        load_manifest("chexpert_plus")


def test_every_config_has_its_extras():
    assert TEST_SETS["chexpert_plus"].extra_fields == ("clinical_history", "ap_pa", "race", "ethnicity")
    assert all(isinstance(t.extra_fields, tuple) for t in TEST_SETS.values())
