"""ReXGradient-160K: its own layout read into ReXrank rows, gated access through the fake Hub,
the image archive, the builder, and the per-site stratum."""

from __future__ import annotations

import json
import logging

import pytest

from rexrank.cli import main as rexrank_main
from rexrank.datasets import rexgradient
from rexrank.datasets.manifests import COMMON_FIELDS, load_manifest
from rexrank.datasets.registry import TEST_SETS
from rexrank.errors import InputError


def _ids(records: dict) -> list[str]:
    return list(records)


def test_a_local_copy_becomes_rexrank_rows_with_demographics(rexgradient_copy, caplog):
    caplog.set_level(logging.INFO, logger="rexrank.datasets.rexgradient")
    test = load_manifest("rexgradient_160k", "test", rexgradient_copy.repo)  # the repo folder
    records = rexgradient_copy.records["test"]
    ids = _ids(records)
    assert test.study_ids == [i for k, i in enumerate(ids) if k != 3]  # no findings and no impression: left out
    assert "left out 1 study" in caplog.text and ids[3] in caplog.text
    assert test.matches_pinned is None and test.source.endswith("metadata/test_metadata_view_position.json")
    rows = {s["study_id"]: s for s in test.studies}
    first = rows[ids[0]]
    assert tuple(first) == COMMON_FIELDS + TEST_SETS["rexgradient_160k"].extra_fields
    assert first["image_paths"] == [p[len("../"):] for p in records[ids[0]]["ImagePath"]]
    assert first["image_paths"][0].startswith("deid_png/")
    assert (first["age"], first["sex"], first["subject_id"]) == ("30", "M", records[ids[0]]["PatientID"])
    assert first["ethnicity"] is None and rows[ids[1]]["ethnicity"] == "White"  # NaN -> missing
    assert rows[ids[1]]["findings"] is None and rows[ids[1]]["report"].startswith("Findings: None. Impression: ")
    assert rows[ids[2]]["impression"] is None  # the text "None" is an empty section
    assert rows[ids[1]]["views"] == ["frontal", "lateral"] and rows[ids[1]]["indication"] == "Shortness of breath."
    assert rows[ids[4]]["views"] == ["unknown"]  # one more view than images: cannot be aligned
    assert rows[ids[5]]["age"] == "0"  # 011M
    assert all(r["site"] is None for r in rows.values())  # no site field unless named
    # the same studies from the file itself, and the ReXrank-shaped entries an inference script is given
    same = load_manifest("rexgradient_160k", "test", rexgradient_copy.repo / "metadata" / "test_metadata_view_position.json")
    assert same.studies == test.studies and same.sha256 == test.sha256
    entry = test.entries[ids[1]]
    assert entry["image_path"] == first["image_paths"][:0] + rows[ids[1]]["image_paths"]
    assert entry["key_image_path"] == rows[ids[1]]["image_paths"][0]
    assert entry["context"] == "Indication: Shortness of breath."
    validation = load_manifest("rexgradient_160k", "validation", rexgradient_copy.repo)
    assert len(validation) == len(rexgradient_copy.records["valid"]) - 1


def test_the_site_stratum_is_opt_in_and_a_missing_site_field_is_an_error(rexgradient_copy, monkeypatch):
    rows = load_manifest("rexgradient_160k", "test", rexgradient_copy.repo, site_field="InstitutionName").studies
    assert {r["site"] for r in rows} == {"site-A", "site-B", "site-C"}
    monkeypatch.setenv("REXRANK_REXGRADIENT_SITE_FIELD", "InstitutionName")
    assert load_manifest("rexgradient_160k", "test", rexgradient_copy.repo).studies == rows
    with pytest.raises(InputError, match=r"has no field 'SiteName' \(the site field you named\); its fields are: "
                                         r".*AccessionNumber"):
        load_manifest("rexgradient_160k", "test", rexgradient_copy.repo, site_field="SiteName")
    with pytest.raises(InputError, match="rexgradient_160k only"):
        load_manifest("iu_xray", "test", site_field="InstitutionName")


@pytest.mark.parametrize("change, message", [
    (lambda r: r.update(ImagePath=["deid_png/x.png"]), "is not of the documented form '../deid_png/"),
    (lambda r: r.update(ImagePath=["../deid_png/a/../../etc/passwd"]), r"'\.\.' segments"),
    (lambda r: r.pop("Findings"), "has no 'Findings' field; the reader expects the documented"),
    (lambda r: r.update(ImagePath="../deid_png/a.png"), "expected a non-empty list"),
    (lambda r: r.update(Impression={"text": "x"}), "field 'Impression': expected text"),
])
def test_anything_outside_the_documented_layout_is_refused_naming_the_study(rexgradient_copy, tmp_path, change, message):
    records = json.loads(json.dumps(rexgradient_copy.records["test"]))
    study = next(iter(records))
    change(records[study])
    path = tmp_path / "test_metadata_view_position.json"
    path.write_text(json.dumps(records))
    with pytest.raises(InputError, match=message) as info:
        load_manifest("rexgradient_160k", "test", path)
    assert study in str(info.value)


def test_unknown_files_and_folders_are_named(tmp_path):
    with pytest.raises(InputError, match="holds neither metadata/valid_metadata_view_position.json"):
        load_manifest("rexgradient_160k", "validation", tmp_path)
    (tmp_path / "x.json").write_text(json.dumps([1, 2]))
    with pytest.raises(InputError, match="holds a JSON list, not an object keyed by study id"):
        load_manifest("rexgradient_160k", "test", tmp_path / "x.json")


def test_gated_access_names_the_agreement_for_no_token_and_for_a_token_without_access(rexgradient_hub, monkeypatch):
    with pytest.raises(InputError) as info:
        load_manifest("rexgradient_160k", "test")
    text = str(info.value)
    assert "HTTP 401" in text and "HF_TOKEN is not set" in text
    assert rexgradient.AGREEMENT in text and "https://huggingface.co/datasets/rajpurkarlab/ReXGradient-160K" in text
    monkeypatch.setenv("HF_TOKEN", rexgradient_hub.not_granted)
    with pytest.raises(InputError) as info:
        load_manifest("rexgradient_160k", "test")
    assert "HTTP 403" in str(info.value) and "has not been granted access" in str(info.value)
    assert rexgradient.AGREEMENT in str(info.value) and rexgradient_hub.not_granted not in str(info.value)
    assert [s for _, _, s in rexgradient_hub.hub.refused] == [401, 403]


def test_with_access_the_metadata_comes_from_the_hub_at_a_recorded_commit(rexgradient_hub, rexgradient_copy,
                                                                          monkeypatch):
    monkeypatch.setenv("HF_TOKEN", rexgradient_hub.granted)
    manifest = load_manifest("rexgradient_160k", "test")
    assert manifest.source == (f"hub:rajpurkarlab/ReXGradient-160K@{rexgradient_hub.commit}:"
                               "metadata/test_metadata_view_position.json")
    assert manifest.studies == load_manifest("rexgradient_160k", "test", rexgradient_copy.repo).studies
    assert f"Bearer {rexgradient_hub.granted}" in rexgradient_hub.hub.authorizations


def test_images_are_downloaded_and_extracted_then_built_into_the_parquet(rexgradient_hub, rexgradient_copy,
                                                                         monkeypatch, tmp_path, capsys):
    from datasets import load_dataset

    with pytest.raises(InputError, match="ReXGradient-160K Non-Commercial"):
        rexgradient.download_image_parts(tmp_path / "parts")
    monkeypatch.setenv("HF_TOKEN", rexgradient_hub.granted)
    images = tmp_path / "images"
    assert rexrank_main(["data", "images", "rexgradient_160k", "--out", str(images)]) == 0
    assert f"--data-dir {images}" in capsys.readouterr().out
    extracted = sorted(p.relative_to(images) for p in (images / "deid_png").rglob("*.png"))
    original = sorted(p.relative_to(rexgradient_copy.images) for p in rexgradient_copy.images.rglob("*.png"))
    assert extracted == original and extracted
    for rel in extracted:
        assert (images / rel).read_bytes() == (rexgradient_copy.images / rel).read_bytes()
    out = tmp_path / "data"
    assert rexrank_main(["data", "build", "rexgradient_160k", "--data-dir", str(images), "--out", str(out),
                         "--site-field", "InstitutionName"]) == 0
    test = load_dataset(str(out), "rexgradient_160k", split="test")
    validation = load_dataset(str(out), "rexgradient_160k", split="validation")
    assert len(test) == 7 and len(validation) == 5
    row = test[1]
    assert row["images"][0].size == (40, 40) and row["key_image"].size == (40, 40)
    assert row["site"] in {"site-A", "site-B", "site-C"} and row["subject_id"]
    card = (out / "README.md").read_text()
    assert "config_name: rexgradient_160k" in card and f"hub:rajpurkarlab/ReXGradient-160K@{rexgradient_hub.commit}" in card


def test_the_archive_reader_refuses_what_it_does_not_know_and_skips_members_outside_deid_png(tmp_path, rexgradient_copy):
    import io
    import tarfile

    import zstandard

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "deid_png.part00").write_bytes(b"PK\x03\x04 not a tar")
    with pytest.raises(InputError, match="neither a zstd stream nor a tar archive"):
        rexgradient.extract_images(rexgradient.local_parts(bad), tmp_path / "x", progress=False)
    (bad / "deid_png.part02").write_bytes(b"")
    with pytest.raises(InputError, match="not consecutive from part00"):
        rexgradient.local_parts(bad)
    truncated = tmp_path / "truncated"
    truncated.mkdir()
    part0 = rexgradient_copy.repo / "deid_png.part00"
    (truncated / "deid_png.part00").write_bytes(part0.read_bytes())  # the other parts are missing
    with pytest.raises(Exception, match="do not form one readable zstd archive|zstd"):
        rexgradient.extract_images(rexgradient.local_parts(truncated), tmp_path / "y", progress=False)
    # a plain tar (what the card describes) with a member outside deid_png/ and a symlink: only the PNG is written
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in (("deid_png/p/a.png", b"png"), ("evil.txt", b"x")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("deid_png/p/link")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(link)
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "deid_png.part00").write_bytes(buffer.getvalue())
    counts = rexgradient.extract_images(rexgradient.local_parts(plain), tmp_path / "z", progress=False)
    assert counts == {"written": 1, "kept": 0, "skipped": 2}
    assert (tmp_path / "z" / "deid_png/p/a.png").read_bytes() == b"png" and not (tmp_path / "z" / "evil.txt").exists()
    # the same archive zstd-compressed in two independent frames (one per part) reads as one stream
    data = buffer.getvalue()
    frames = tmp_path / "frames"
    frames.mkdir()
    for n, chunk in enumerate((data[:700], data[700:])):
        (frames / f"deid_png.part{n:02d}").write_bytes(zstandard.ZstdCompressor().compress(chunk))
    counts = rexgradient.extract_images(rexgradient.local_parts(frames), tmp_path / "w", progress=False)
    assert counts["written"] == 1 and (tmp_path / "w" / "deid_png/p/a.png").read_bytes() == b"png"


def test_scores_on_the_public_test_set_come_with_the_per_site_stratum(rexgradient_copy, monkeypatch):
    from rexrank.datasets.tracks import load_track
    from rexrank.metrics.suite import score_test_set

    monkeypatch.setenv("REXRANK_REXGRADIENT_SITE_FIELD", "InstitutionName")
    data = load_track("rexgradient_160k", "findings_impression", manifest=rexgradient_copy.repo)
    predictions = {i: " ".join(r.split()[:8]) for i, r in zip(data.study_ids, data.references)}
    results = score_test_set("rexgradient_160k", predictions, track="findings_impression", metrics=["bleu2"],
                             manifest=rexgradient_copy.repo, progress=False, plots=False)
    groups = results["analyses"]["by_site"]["groups"]
    assert set(groups) == {"site-A", "site-B", "site-C"}
    assert sum(g["bleu2"]["n"] for g in groups.values()) == len(data.study_ids) == results["metrics"]["bleu2"]["n"]
    assert results["provenance"]["dataset"]["manifest"].endswith("test_metadata_view_position.json")
