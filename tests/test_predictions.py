"""The prediction-file reader on every format and every kind of bad input; the atomic writer."""

from __future__ import annotations

import csv
import io
import json
import os

import pytest

from rexrank.datasets.predictions import PredictionFileError, read_predictions, write_predictions
from rexrank.datasets.tracks import load_track
from rexrank.errors import InputError

IDS = ["50051329", "CXR3030_IM-1405", "patient64620_study1"]
REPORTS = {
    "50051329": "The lungs are clear.\nNo effusion, \"no\" pneumothorax.",
    "CXR3030_IM-1405": "Heart size normal, lungs clear — é ü 肺.",
    "patient64620_study1": "  Leading and trailing spaces kept.  ",
}


def as_csv(rows, header=("study_id", "report"), lineterminator="\n"):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=lineterminator)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def as_jsonl(records):
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()


GOOD_FILES = {
    "rexrank.json": json.dumps({i: {"image_path": ["x.png"], "section_findings": "f", "model_prediction": r}
                                for i, r in REPORTS.items()}).encode(),
    "mapping.json": json.dumps(REPORTS, ensure_ascii=False).encode(),
    "records.json": json.dumps([{"study_id": i, "report": r} for i, r in REPORTS.items()]).encode(),
    "preds.csv": as_csv(REPORTS.items()),
    "preds.jsonl": as_jsonl({"study_id": i, "report": r} for i, r in REPORTS.items()),
}


@pytest.mark.parametrize("name", sorted(GOOD_FILES))
@pytest.mark.parametrize("how", ["path", "bytes with name", "bytes sniffed"])
def test_every_format_reads_exactly(tmp_path, name, how):
    data = GOOD_FILES[name]
    if how == "path":
        path = tmp_path / name
        path.write_bytes(data)
        got = read_predictions(path, IDS)
    elif how == "bytes with name":
        got = read_predictions(data, IDS, filename=name)
    else:
        got = read_predictions(data, IDS)
    assert got == REPORTS and list(got) == IDS


def test_csv_with_bom_crlf_extra_columns_and_jsonl_with_numeric_ids():
    data = "\ufeff".encode() + as_csv([(i, "x", r) for i, r in REPORTS.items()], header=("study_id", "model", "report"),
                                      lineterminator="\r\n")  # Excel's CSV: BOM and CRLF rows
    assert read_predictions(data, IDS, filename="p.csv") == REPORTS
    assert read_predictions(b'{"study_id": 50051329, "report": "ok"}\n', ["50051329"], format="jsonl") == {"50051329": "ok"}


def test_order_follows_expected_ids_and_without_them_the_file():
    shuffled = list(reversed(IDS))
    assert list(read_predictions(GOOD_FILES["preds.csv"], shuffled, filename="p.csv")) == shuffled
    assert list(read_predictions(GOOD_FILES["preds.csv"], filename="p.csv")) == IDS


def problems_of(data, expected=IDS, **kwargs):
    with pytest.raises(PredictionFileError) as info:
        read_predictions(data, expected, **kwargs)
    assert isinstance(info.value, InputError)
    return info.value


@pytest.mark.parametrize("data, filename, kind, ids", [
    # missing / unknown / duplicate, in each format
    (json.dumps({IDS[0]: "a", IDS[1]: "b"}).encode(), "p.json", "missing", [IDS[2]]),
    (as_csv([(IDS[0], "a"), (IDS[1], "b"), (IDS[2], "c"), ("999", "d")]), "p.csv", "unknown", ["999"]),
    (b'{"a1": "x", "' + IDS[0].encode() + b'": "y", "' + IDS[0].encode() + b'": "z"}', "p.json", "duplicate", [IDS[0]]),
    (as_csv([(IDS[0], "a"), (IDS[0], "a"), (IDS[1], "b"), (IDS[2], "c")]), "p.csv", "duplicate", [IDS[0]]),
    (as_jsonl([{"study_id": i, "report": "r"} for i in IDS + [IDS[2]]]), "p.jsonl", "duplicate", [IDS[2]]),
    # empty / whitespace-only
    (json.dumps({IDS[0]: "", IDS[1]: " \n\t", IDS[2]: "ok"}).encode(), "p.json", "empty", IDS[:2]),
    (as_csv([(IDS[0], ""), (IDS[1], "b"), (IDS[2], "c")]), "p.csv", "empty", [IDS[0]]),
    # non-strings and NaN
    (json.dumps({IDS[0]: 3, IDS[1]: ["x"], IDS[2]: None}).encode(), "p.json", "not_string", IDS),
    (b'{"50051329": NaN, "CXR3030_IM-1405": "nan", "patient64620_study1": "ok"}', "p.json", "nan", IDS[:2]),
    (as_csv([(IDS[0], "NaN"), (IDS[1], "b"), (IDS[2], "c")]), "p.csv", "nan", [IDS[0]]),
    (json.dumps({i: {"model_prediction": float("nan") if i == IDS[1] else "r"} for i in IDS}).encode(), "p.json", "nan", [IDS[1]]),
    (as_jsonl([{"study_id": IDS[0], "report": 1.5}, {"study_id": IDS[1], "report": "b"}, {"study_id": IDS[2], "report": "c"}]),
     "p.jsonl", "not_string", [IDS[0]]),
    (json.dumps({IDS[0]: "\ud800 lone surrogate", IDS[1]: "b", IDS[2]: "c"}).encode(), "p.json", "invalid_text", [IDS[0]]),
])
def test_study_level_problems_name_the_studies(data, filename, kind, ids):
    err = problems_of(data, filename=filename)
    assert err.problems[kind] == ids
    for study_id in ids:
        assert repr(study_id) in str(err)


@pytest.mark.parametrize("data, filename, kind, text", [
    ("Findings: é".encode("latin-1"), "p.json", "not_utf8", "Re-save it as UTF-8"),
    ('{"a": "x"}'.encode("utf-16"), "p.json", "not_utf8", "(line 1, byte 0; it looks like UTF-16)"),
    (b'study_id,report\na,ok\nb,caf\xe9\n', "p.csv", "not_utf8", "not UTF-8 text (line 3, byte 26)"),
    (b"study_id,report\na,b\n", "p.json", "format", "declares JSON"),
    (b'{"a": "x"', "p.json", "format", "declares JSON"),
    (b'"just a string"', "p.json", "format", "not an object or a list"),
    (b"{}", "p.json", "no_predictions", "no predictions"),
    (b"", "p.csv", "no_predictions", "no predictions"),
    (b"id,text\na,b\n", "p.csv", "format", "does not have one 'study_id' and one 'report' column"),
    (b'study_id,report\n"a,b\n', "p.csv", "format", "declares CSV"),
    (b"not json at all\nnor this\n", "p.jsonl", "format", "no line is JSON"),
])
def test_file_level_problems(data, filename, kind, text):
    err = problems_of(data, filename=filename)
    assert kind in err.problems and text in str(err)


@pytest.mark.parametrize("data, filename, location", [
    (b"study_id,report\n50051329,a\nCXR3030_IM-1405\npatient64620_study1,c\n", "p.csv", "row 3"),
    (as_jsonl([{"study_id": IDS[0], "report": "a"}, {"id": IDS[1], "text": "b"}, {"study_id": IDS[2], "report": "c"}]),
     "p.jsonl", "line 2"),
    (b'{"study_id": "50051329", "report": "a"}\n{broken\n', "p.jsonl", "line 2: not JSON"),
    (json.dumps({i: {"model_prediction": "x"} if i != IDS[1] else {"report": "no prediction field"} for i in IDS}).encode(),
     "p.json", "study 'CXR3030_IM-1405'"),
    (json.dumps([{"study_id": IDS[0], "report": "a"}, "stray"]).encode(), "p.json", "item 1"),
])
def test_malformed_entries_are_reported_not_dropped(data, filename, location):
    err = problems_of(data, filename=filename)
    assert any(item.startswith(location) for item in err.problems["malformed"]), err.problems


def test_all_problems_come_together_with_what_to_do():
    data = json.dumps({IDS[0]: "", "999": "x", IDS[2]: 5}).encode()
    err = problems_of(data, filename="p.json")
    assert err.problems == {"not_string": [IDS[2]], "empty": [IDS[0]], "unknown": ["999"], "missing": [IDS[1]]}
    message = str(err)
    assert message.startswith("predictions file p.json has problems:")
    assert "--allow-missing" in message and "Remove them" in message


def test_many_offending_studies_are_summarised():
    expected = [f"s{i}" for i in range(40)]
    err = problems_of(json.dumps({"s0": "x"}).encode(), expected=expected, filename="p.json")
    assert len(err.problems["missing"]) == 39
    assert "39 studies: 's1', 's2', 's3', 's4', 's5', ... (34 more)" in str(err)


def test_allow_missing_scores_missing_and_empty_as_empty_reports(caplog):
    data = json.dumps({IDS[0]: "a", IDS[1]: "  "}).encode()
    got = read_predictions(data, IDS, allow_missing=True, filename="p.json")
    assert got == {IDS[0]: "a", IDS[1]: "  ", IDS[2]: ""}
    assert "scoring them as empty reports" in caplog.text
    with pytest.raises(PredictionFileError) as info:  # unknown ids are still refused
        read_predictions(json.dumps({"zzz": "a"}).encode(), IDS, allow_missing=True)
    assert info.value.problems == {"unknown": ["zzz"]}


def test_bad_arguments(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_predictions(tmp_path / "none.json")
    with pytest.raises(InputError, match="unknown predictions format 'xml'"):
        read_predictions(b"{}", format="xml")


def test_the_official_test_set_json_with_predictions_reads_for_its_track(iu_manifests):
    raw = json.loads(iu_manifests["test"].read_text())
    for study_id, entry in raw.items():
        entry["model_prediction"] = f"prediction for {study_id}"
    track = load_track("iu_xray", "findings")
    got = read_predictions(json.dumps(raw).encode(), track.study_ids, filename="ReXRank_IUXray_test_pred.json")
    assert len(got) == 590 and got["CXR3030_IM-1405"] == "prediction for CXR3030_IM-1405"


def test_write_predictions_is_atomic_and_round_trips(tmp_path):
    track = load_track("iu_xray", "findings")
    predictions = {i: f"report {n}" for n, i in enumerate(track.study_ids[:5])}
    out = tmp_path / "run" / "preds.json"
    write_predictions(out, predictions, track.studies)
    written = json.loads(out.read_text())
    assert list(written) == track.study_ids[:5]
    first = written["CXR3030_IM-1405"]
    assert first["model_prediction"] == "report 0"
    assert first["image_path"] == ["CXR3030_IM-1405/0.png", "CXR3030_IM-1405/1.png"]
    assert first["section_findings"] == track.references[0]
    assert read_predictions(out, track.study_ids[:5]) == predictions
    write_predictions(out, {"x": "é"})  # replaces the file; no temporary file left behind
    assert read_predictions(out) == {"x": "é"}
    assert os.listdir(out.parent) == ["preds.json"]
    with pytest.raises(InputError, match="not in the given studies"):
        write_predictions(out, {"nope": "x"}, track.studies)
    with pytest.raises(InputError, match="not text"):
        write_predictions(out, {"x": float("nan")})
    assert read_predictions(out) == {"x": "é"}  # a refused write leaves the old file intact
