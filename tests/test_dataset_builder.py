"""The datasets builder, the parquet export + card, and `rexrank data build`, loaded back with
plain `datasets.load_dataset` (datasets 5.x, no loading script)."""

from __future__ import annotations

import io
import json
import logging

import pytest
from PIL import Image

from rexrank.datasets import export
from rexrank.datasets.export import split_card
from rexrank.datasets.tracks import load_track
from rexrank.cli import main as rexrank_main
from rexrank.errors import InputError

NAN = float("nan")

# A MIMIC-CXR-shaped manifest: leading-slash paths, a NaN impression, a "nan" findings, free views.
STUDIES = {
    "50000001": {"image_path": ["/p10/p1/s50000001/a.png", "/p10/p1/s50000001/b.png"],
                 "key_image_path": "/p10/p1/s50000001/b.png", "frontal_lateral": ["lateral", "antero-posterior"],
                 "section_findings": "Lungs clear.", "section_impression": NAN,
                 "report": "Findings: Lungs clear. Impression: None.", "subject_id": 1,
                 "context": "Age:50-60.Gender:F.Indication: Cough.", "split": "test"},
    "50000002": {"image_path": ["/p10/p2/s50000002/c.png"], "key_image_path": "/p10/p2/s50000002/c.png",
                 "frontal_lateral": ["postero-anterior"], "section_findings": "nan",
                 "section_impression": "No acute process.", "report": "Findings: None. Impression: No acute process.",
                 "subject_id": 2, "context": "", "split": "test"},
}
COLOURS = {"p10/p1/s50000001/a.png": ((8, 6), 10), "p10/p1/s50000001/b.png": ((5, 7), 200),
           "p10/p2/s50000002/c.png": ((4, 4), 77)}


@pytest.fixture
def mimic_like(tmp_path):
    """(manifest file, image root) with small grey PNGs the test can recognise by size and value."""
    manifest = tmp_path / "mimic.json"
    manifest.write_text(json.dumps(STUDIES, allow_nan=True))
    root = tmp_path / "files"
    for rel, (size, value) in COLOURS.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.new("L", size, color=value).save(root / rel)
    return manifest, root


def load(path, config, split="test"):
    from datasets import load_dataset

    return load_dataset(str(path), config, split=split)


def test_images_decode_through_load_dataset_on_the_built_parquet(tmp_path, mimic_like):
    manifest, root = mimic_like
    out = tmp_path / "out"
    assert export.build("mimic_cxr", out, manifest_files={"test": manifest}, data_dir=root) == {"test": 2}
    ds = load(out, "mimic_cxr")
    assert len(ds) == 2
    first = ds[0]
    assert first["study_id"] == "50000001" and first["subject_id"] == "1"
    assert first["image_paths"] == ["p10/p1/s50000001/a.png", "p10/p1/s50000001/b.png"]
    assert first["views"] == ["lateral", "frontal"]
    assert first["findings"] == "Lungs clear." and first["impression"] is None
    assert (first["age"], first["sex"], first["indication"]) == ("50-60", "F", "Cough.")
    assert [(im.size, im.getpixel((0, 0))) for im in first["images"]] == [((8, 6), 10), ((5, 7), 200)]
    assert (first["key_image"].size, first["key_image"].getpixel((1, 1))) == ((5, 7), 200)
    assert first["key_image_path"] == "p10/p1/s50000001/b.png"
    second = ds[1]
    assert second["findings"] is None and second["impression"] == "No acute process."
    assert [im.size for im in second["images"]] == [(4, 4)]
    # The shards carry the bytes: the image root can go away.
    for rel in COLOURS:
        (root / rel).unlink()
    assert load(out, "mimic_cxr")[1]["key_image"].getpixel((0, 0)) == 77


def test_without_an_image_root_rows_load_with_paths_only(tmp_path, mimic_like):
    manifest, _ = mimic_like
    out = tmp_path / "out"
    export.build("mimic_cxr", out, manifest_files={"test": manifest})
    ds = load(out, "mimic_cxr")
    assert ds[0]["images"] is None and ds[0]["key_image"] is None
    assert ds[0]["image_paths"] == ["p10/p1/s50000001/a.png", "p10/p1/s50000001/b.png"]
    assert ds["report"] == [s["report"] for s in STUDIES.values()]


def test_a_missing_image_names_the_study_and_path(tmp_path, mimic_like):
    manifest, root = mimic_like
    (root / "p10/p2/s50000002/c.png").unlink()
    with pytest.raises(InputError, match=r"study '50000002' image_path: 'p10/p2/s50000002/c.png' does not exist under the image root"):
        export.build("mimic_cxr", tmp_path / "out", manifest_files={"test": manifest}, data_dir=root)
    assert not (tmp_path / "out" / "mimic_cxr").exists()  # nothing half-written


def test_a_malformed_manifest_stops_the_build_with_the_users_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"50000001": {"image_path": "/p10/x.png", "section_findings": "a",
                                            "section_impression": "b", "report": "c"}}))
    with pytest.raises(InputError, match=r"study '50000001', field 'image_path'"):
        export.build("mimic_cxr", tmp_path / "out", manifest_files={"test": bad})


def test_configs_built_into_one_folder_share_one_card(tmp_path, mimic_like):
    manifest, _ = mimic_like
    out = tmp_path / "out"
    assert export.build("iu_xray", out) == {"test": 590, "validation": 296}
    export.build("mimic_cxr", out, manifest_files={"test": manifest})
    export.build("iu_xray", out, manifest_files={"test": None})  # rebuild one split: the other stays
    header, body = split_card((out / "README.md").read_text())
    assert header["configs"] == [
        {"config_name": "mimic_cxr", "data_files": [{"split": "test", "path": "mimic_cxr/test-*.parquet"}]},
        {"config_name": "iu_xray", "data_files": [{"split": "test", "path": "iu_xray/test-*.parquet"},
                                                  {"split": "validation", "path": "iu_xray/validation-*.parquet"}]},
    ]
    info = {i["config_name"]: i for i in header["dataset_info"]}
    assert [(s["name"], s["num_examples"]) for s in info["iu_xray"]["splits"]] == [("test", 590), ("validation", 296)]
    assert {f["name"] for f in info["mimic_cxr"]["features"]} >= {"images", "key_image", "subject_id", "findings"}
    assert header["task_categories"] == ["image-to-text"] and "chest-x-ray" in header["tags"]
    assert "## Citation" in body and "zhang2024rexrank" in body
    assert len(load(out, "iu_xray", "validation")) == 296
    assert len(load(out, "mimic_cxr")) == 2


def test_cli_builds_iu_xray_offline_from_the_seeded_asset(tmp_path, capsys):
    out = tmp_path / "rexrank"
    assert rexrank_main(["data", "build", "iu_xray", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "iu_xray\ttest\t590 studies" in printed and "iu_xray\tvalidation\t296 studies" in printed
    test = load(out, "iu_xray", "test")
    assert len(test) == 590 and len(load(out, "iu_xray", "validation")) == 296
    findings = load_track("iu_xray", "findings")
    assert test["study_id"] == findings.study_ids and test["findings"] == findings.references
    assert sorted(p.name for p in (out / "iu_xray").iterdir()) == ["test-00000-of-00001.parquet",
                                                                  "validation-00000-of-00001.parquet"]


def test_cli_manifest_and_split_options(tmp_path, iu_manifests, capsys):
    out = tmp_path / "rexrank"
    args = ["data", "build", "iu_xray", "--manifest", f"validation={iu_manifests['validation']}", "--out", str(out)]
    assert rexrank_main(args) == 0
    assert "iu_xray\tvalidation\t296 studies" in capsys.readouterr().out
    assert [c["data_files"] for c in split_card((out / "README.md").read_text())[0]["configs"]] == [
        [{"split": "validation", "path": "iu_xray/validation-*.parquet"}]]


@pytest.mark.oracle
def test_datasets_3_runs_the_builder_as_a_loading_script_with_the_same_rows(oracle, tmp_path, iu_manifests):
    """The card's route for ``datasets<4`` (the oracle venv has datasets 3.6): the same rows as the parquet route."""
    from rexrank.metrics.oracle.tasks.datasets_script import FIELDS

    old = oracle("datasets_script", config="iu_xray", split="test", manifest=str(iu_manifests["test"]),
                 cache_dir=str(tmp_path / "cache"))
    assert old["datasets"].startswith("3.")
    export.build("iu_xray", tmp_path / "out", manifest_files={"test": iu_manifests["test"]})
    new = load(tmp_path / "out", "iu_xray")
    assert len(old["rows"]) == len(new) == 590
    assert old["rows"] == [{k: row[k] for k in FIELDS} for row in new]


def test_cli_errors_are_clean(tmp_path, caplog):
    with caplog.at_level(logging.ERROR):
        assert rexrank_main(["data", "build", "rexgradient", "--out", str(tmp_path / "o")]) == 2
    assert "no public manifest" in caplog.text and "--manifest FILE" in caplog.text
    with caplog.at_level(logging.ERROR):
        assert rexrank_main(["data", "build", "chexpert_plus", "--split", "validation", "--out", str(tmp_path / "o")]) == 2
    assert "'chexpert_plus' has no split 'validation'" in caplog.text


def test_push_uploads_the_folder_with_the_environment_token(tmp_path, fake_hub, monkeypatch, capsys):
    import huggingface_hub.constants
    from huggingface_hub import DatasetCard

    endpoint, hub = fake_hub
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", endpoint)
    out = tmp_path / "rexrank"
    monkeypatch.delenv("HF_TOKEN", raising=False)
    assert rexrank_main(["data", "build", "iu_xray", "--split", "test", "--out", str(out),
                         "--push-to-hub", "someone/rexrank"]) == 2  # no token: refused before building
    assert hub.repos == {} and not out.exists()
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value_123")
    assert rexrank_main(["data", "build", "iu_xray", "--split", "test", "--out", str(out),
                         "--push-to-hub", "someone/rexrank"]) == 0
    assert "hf_secret_value_123" not in capsys.readouterr().out
    _, files = hub.commit_at("dataset", "someone/rexrank", "main")
    assert {"README.md", "iu_xray/test-00000-of-00001.parquet"} <= set(files)
    assert files["iu_xray/test-00000-of-00001.parquet"] == (out / "iu_xray/test-00000-of-00001.parquet").read_bytes()
    assert "Bearer hf_secret_value_123" in hub.authorizations
    # the card went through the Hub's YAML check (upload_folder) and reads as `datasets` reads it
    assert [(kind, content) for kind, content in hub.validated] == [("dataset", files["README.md"].decode())]
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs

    data = DatasetCard(files["README.md"].decode()).data
    assert set(MetadataConfigs.from_dataset_card_data(data)) == {"iu_xray"}
    assert DatasetInfosDict.from_dataset_card_data(data)["iu_xray"].splits["test"].num_examples == 590
    import pyarrow.parquet as pq

    assert pq.read_table(io.BytesIO(files["iu_xray/test-00000-of-00001.parquet"])).num_rows == 590


def test_a_hand_edited_card_with_broken_yaml_is_refused_before_any_file_is_committed(tmp_path, fake_hub, monkeypatch):
    import huggingface_hub.constants

    endpoint, hub = fake_hub
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", endpoint)
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value_123")
    out = tmp_path / "rexrank"
    assert rexrank_main(["data", "build", "iu_xray", "--split", "test", "--out", str(out)]) == 0
    card = out / "README.md"
    card.write_text(card.read_text().replace("configs:", "configs: [", 1))
    with pytest.raises(ValueError, match="Invalid metadata in README.md"):
        export.push(out, "someone/rexrank", endpoint=endpoint)
    _, files = hub.commit_at("dataset", "someone/rexrank", "main")
    assert set(files) == {".gitattributes"}  # the repo was created, nothing uploaded


def test_credentialed_images_are_never_pushed_publicly(tmp_path, mimic_like, caplog, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value_123")
    manifest, root = mimic_like
    args = ["data", "build", "mimic_cxr", "--manifest", str(manifest), "--data-dir", str(root),
            "--out", str(tmp_path / "o"), "--push-to-hub", "someone/mimic"]
    with caplog.at_level(logging.ERROR):
        assert rexrank_main(args) == 2
    assert "mimic_cxr images need credentialed access" in caplog.text and "--private" in caplog.text
    assert not (tmp_path / "o").exists()  # refused before building
    # A folder built with images earlier is refused too (its build record says so), before any request.
    export.build("mimic_cxr", tmp_path / "o", manifest_files={"test": manifest}, data_dir=root)
    with pytest.raises(InputError, match="credentialed access"):
        export.push(tmp_path / "o", "someone/mimic", endpoint="http://127.0.0.1:9")


def test_the_card_records_each_splits_manifest_and_images(tmp_path, mimic_like):
    manifest, root = mimic_like
    out = tmp_path / "out"
    export.build("iu_xray", out, manifest_files={"test": None})
    export.build("mimic_cxr", out, manifest_files={"test": manifest}, data_dir=root)
    builds = export.read_builds(out)
    assert builds["iu_xray"] == {"test": {
        "studies": 590, "manifest_sha256": "4d30a534525e3d92acacaef329ad35a2429b8853b45ef9003e3034b9c9db8464",
        "manifest": "rajpurkarlab/ReXrank@8152f99919e4b1b2241bf6d485c51f17e59e8559:data/iu_xray/ReXRank_IUXray_test.json",
        "matches_pinned": True, "images": False}}
    assert builds["mimic_cxr"]["test"]["images"] is True and builds["mimic_cxr"]["test"]["matches_pinned"] is False
    card = (out / "README.md").read_text()
    assert "| `iu_xray` | test | 590 | `rajpurkarlab/ReXrank@8152f99919e4b1b2241bf6d485c51f17e59e8559:data/iu_xray/" \
           "ReXRank_IUXray_test.json` | `4d30a534525e` | yes | paths only |" in card
    assert f"| `mimic_cxr` | test | 2 | `{manifest}` |" in card and "| no | embedded |" in card
    assert card.count("## This export") == 1


def test_large_builds_are_sharded_and_rebuilds_replace_old_shards(tmp_path):
    out = tmp_path / "out"
    export.build("iu_xray", out, max_shard_size=100_000)
    shards = sorted(p.name for p in (out / "iu_xray").iterdir())
    assert shards == ["test-00000-of-00003.parquet", "test-00001-of-00003.parquet", "test-00002-of-00003.parquet",
                      "validation-00000-of-00002.parquet", "validation-00001-of-00002.parquet"]
    assert len(load(out, "iu_xray")) == 590 and len(load(out, "iu_xray", "validation")) == 296
    export.build("iu_xray", out, manifest_files={"test": None})
    assert sorted(p.name for p in (out / "iu_xray").glob("test-*")) == ["test-00000-of-00001.parquet"]
    assert len(load(out, "iu_xray")) == 590


def test_the_card_template_matches_the_builder():
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard

    from rexrank.datasets.registry import CONFIGS
    from rexrank.datasets.rexrank.rexrank import features_for

    card = DatasetCard(export.CARD_TEMPLATE.read_text(encoding="utf-8"))
    assert list(MetadataConfigs.from_dataset_card_data(card.data)) == list(CONFIGS)
    infos = DatasetInfosDict.from_dataset_card_data(card.data)
    for config in CONFIGS:
        assert infos[config].features == features_for(config), config
    # No split sizes in the template: datasets<4 would verify them against a script run that
    # builds one split or a private manifest of another size. Exports record the real ones.
    assert all(not infos[c].splits for c in CONFIGS)
    for section in ("## Dataset Summary", "## Supported Tasks and Leaderboards", "## Dataset Structure",
                    "## Access to the images", "## Considerations for Using the Data", "## Citation"):
        assert section in card.text


# ------------------------------------------------------------------ issue 14, class 2: containment


def _hostile(tmp_path, mimic_like, how: str):
    """The MIMIC-like manifest and image root with one image path turned hostile in one way."""
    manifest, root = mimic_like
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\nHF_TOKEN=hf_should_never_be_embedded\n")
    studies = json.loads(json.dumps(STUDIES, allow_nan=True))
    entry = studies["50000002"]
    target = "image_path"
    if how == "dotdot":
        path = "/../secret.txt"
    elif how == "dotdot-deep":
        path = "p10/p2/../../../secret.txt"
    elif how == "backslashes":
        path = "p10\\..\\..\\secret.txt"
    elif how == "symlink-file":
        (root / "p10/p2/s50000002/c.png").unlink()
        (root / "p10/p2/s50000002/c.png").symlink_to(secret)
        path = "/p10/p2/s50000002/c.png"
    elif how == "symlink-dir":
        (root / "p10/escape").symlink_to(tmp_path)
        path = "/p10/escape/secret.txt"
    elif how == "key-image-dotdot":
        target, path = "key_image_path", "/p10/../../secret.txt"
    elif how == "not-an-image":
        (root / "p10/p2/s50000002/c.png").write_bytes(secret.read_bytes())
        path = "/p10/p2/s50000002/c.png"
    elif how == "truncated-png":
        data = (root / "p10/p2/s50000002/c.png").read_bytes()
        (root / "p10/p2/s50000002/c.png").write_bytes(data[: len(data) // 2])
        path = "/p10/p2/s50000002/c.png"
    elif how == "empty-file":
        (root / "p10/p2/s50000002/c.png").write_bytes(b"")
        path = "/p10/p2/s50000002/c.png"
    elif how == "directory":
        path = "/p10/p2"
    else:
        raise AssertionError(how)
    if target == "image_path":
        entry["image_path"] = [path]
    else:
        entry["key_image_path"] = path
    manifest.write_text(json.dumps(studies, allow_nan=True))
    return manifest, root, path


HOSTILE = ["dotdot", "dotdot-deep", "backslashes", "symlink-file", "symlink-dir", "key-image-dotdot",
           "not-an-image", "truncated-png", "empty-file", "directory"]


@pytest.mark.parametrize("how", HOSTILE)
def test_image_paths_stay_inside_the_image_root_and_must_be_images(tmp_path, mimic_like, how):
    manifest, root, path = _hostile(tmp_path, mimic_like, how)
    out = tmp_path / "out"
    with pytest.raises(InputError) as err:
        export.build("mimic_cxr", out, manifest_files={"test": manifest}, data_dir=root)
    message = str(err.value)
    assert "study '50000002'" in message and ("image_path" in message or "key_image_path" in message)
    assert str(tmp_path) not in message  # the path as the manifest gives it, never the server's absolute path
    assert not (out / "mimic_cxr").exists()  # nothing half-written
    assert not any(b"hf_should_never_be_embedded" in p.read_bytes() for p in tmp_path.rglob("*.parquet"))


@pytest.mark.parametrize("how", ["dotdot", "symlink-file", "not-an-image"])
def test_a_refused_image_is_never_pushed(tmp_path, mimic_like, fake_hub, monkeypatch, caplog, how):
    import huggingface_hub.constants

    endpoint, hub = fake_hub
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", endpoint)
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value_123")
    manifest, root, _ = _hostile(tmp_path, mimic_like, how)
    with caplog.at_level(logging.ERROR):
        code = rexrank_main(["data", "build", "mimic_cxr", "--manifest", str(manifest), "--data-dir", str(root),
                             "--out", str(tmp_path / "out"), "--push-to-hub", "someone/rexrank", "--private"])
    assert code == 2 and hub.repos == {}
    assert "study '50000002'" in caplog.text and "Traceback" not in caplog.text


def test_a_symlink_to_an_image_inside_the_root_is_fine(tmp_path, mimic_like):
    manifest, root = mimic_like
    (root / "p10/p2/s50000002/c.png").rename(root / "p10/c_real.png")
    (root / "p10/p2/s50000002/c.png").symlink_to(root / "p10/c_real.png")
    assert export.build("mimic_cxr", tmp_path / "out", manifest_files={"test": manifest}, data_dir=root) == {"test": 2}
