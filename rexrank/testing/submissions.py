"""Tiny ReXrank submission folders (``inference.py`` + ``requirements.txt``) for tests and trials.

Every variant follows ReXrank's protocol (``--input_json_file``, ``--save_json_file``,
``--img_root_dir``) the way its MedVersa example does: it reads the input JSON, opens each
study's images under the image root, writes the whole output after every study, and copies the
input entry with a ``model_prediction`` added. Its reports come from a helper package that its
``requirements.txt`` installs from a wheel in the folder, so a run proves the environment was
built. Variants:

* ``ok``: a deterministic report per study (from its views and indication);
* ``first2-then-crash`` / ``first2-then-hang``: two studies, then an exception / sleeping
  forever (a crash, a time limit) — rerun, they make progress two studies at a time;
* ``malformed``: writes a file that is not JSON;
* ``skip-and-bad``: skips every third study, writes an empty report and a number for two others;
* ``escape``: first tries to write outside its scratch folder (the image root, its own folder,
  ``/tmp``, ``..`` and the paths in ``escape.json``), to read the files named there (a token, a
  private manifest) and to reach a loopback port named there; prints what happened, exits 3 if
  anything got through, else predicts like ``ok``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from pathlib import Path

VARIANTS = ("ok", "first2-then-crash", "first2-then-hang", "malformed", "skip-and-bad", "escape")

_HELPER = '''"""Report text for the tiny submission (installed from a wheel by requirements.txt)."""


def report(views, indication):
    frontal = sum(1 for v in views if str(v).lower().startswith("frontal"))
    parts = ["The lungs are clear.", "There is no pleural effusion or pneumothorax."]
    parts.append("The heart size is normal." if frontal else "The cardiomediastinal silhouette is normal.")
    if len(views) > 1:
        parts.append("No acute osseous abnormality.")
    if indication:
        parts.append("No acute cardiopulmonary process.")
    return " ".join(parts)
'''

_SCRIPT = '''"""A tiny ReXrank submission ({variant}): python inference.py --input_json_file IN --save_json_file OUT --img_root_dir DIR"""
import argparse
import json
import os
import sys
import time

from rexrank_tiny_dep import report

VARIANT = {variant!r}
HERE = os.path.dirname(os.path.abspath(__file__))


def escape_attempts(img_root_dir):
    with open(os.path.join(HERE, "escape.json")) as handle:
        targets = json.load(handle)
    got_through = []
    for path in [os.path.join(img_root_dir, "written-by-submission.txt"), os.path.join(HERE, "written-by-submission.txt"),
                 *targets["paths"], os.path.join("..", "written-by-submission.txt")]:
        try:
            with open(path, "w") as handle:
                handle.write("escaped")
            got_through.append(path)
            print("WROTE", path)
        except OSError as err:
            print("refused:", path, "-", err)
    for path in targets["reads"]:
        try:
            with open(path, "rb") as handle:
                handle.read(1)
            got_through.append(path)
            print("READ", path)
        except OSError as err:
            print("refused:", path, "-", err)
    import socket
    try:
        socket.create_connection(("127.0.0.1", targets["port"]), timeout=3).close()
        got_through.append("network")
        print("CONNECTED to port", targets["port"])
    except OSError as err:
        print("refused: network -", err)
    return got_through


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--input_json_file", type=str, default="../../data/mimic-cxr/test_data.json")
    parser.add_argument("--save_json_file", type=str, default="../../results/mimic-cxr/tiny.json")
    parser.add_argument("--img_root_dir", type=str, default="../../data/mimic-cxr/MIMIC-CXR-JPG/files")
    args = parser.parse_args()
    with open(args.input_json_file) as handle:
        data_dict = json.load(handle)
    if VARIANT == "escape" and escape_attempts(args.img_root_dir):
        sys.exit(3)
    if VARIANT == "malformed":
        with open(args.save_json_file, "w") as handle:
            handle.write('{{"broken": ')
        return
    save_data_dict = {{}}
    if os.path.exists(args.save_json_file):
        with open(args.save_json_file) as handle:
            save_data_dict = json.load(handle)
    for index, (study_id, data_dict_idx) in enumerate(data_dict.items()):
        if study_id in save_data_dict:
            continue
        if VARIANT.startswith("first2") and index == 2:
            if VARIANT.endswith("crash"):
                raise RuntimeError("CUDA error: out of memory (simulated by the tiny submission)")
            print("hanging on", study_id, flush=True)
            time.sleep(3600)
        for image_path in data_dict_idx["image_path"]:
            with open(args.img_root_dir + image_path, "rb") as image:  # MedVersa joins with +
                assert image.read(8) == bytes([137, 80, 78, 71, 13, 10, 26, 10]), image_path
        assert os.path.isfile(os.path.join(args.img_root_dir, data_dict_idx["key_image_path"]))  # MedGemma: join
        assert "section_findings" not in data_dict_idx and "report" not in data_dict_idx
        context = data_dict_idx.get("context") or ""
        prediction = report(data_dict_idx.get("frontal_lateral") or [], "Indication" in context)
        if VARIANT == "skip-and-bad":
            if index % 3 == 2:
                continue
            if index == 0:
                prediction = "   "
            if index == 1:
                prediction = 42
        data_dict_idx["model_prediction"] = prediction
        save_data_dict[study_id] = data_dict_idx
        with open(args.save_json_file, "w") as handle:  # the whole file after every study, as MedVersa does
            json.dump(save_data_dict, handle, indent=1)
    print("done:", len(save_data_dict), "studies")


if __name__ == "__main__":
    main()
'''


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def write_helper_wheel(folder: Path) -> Path:
    """``rexrank_tiny_dep-0.1-py3-none-any.whl``: a pure-Python wheel pip installs offline."""
    files = {
        "rexrank_tiny_dep/__init__.py": _HELPER.encode(),
        "rexrank_tiny_dep-0.1.dist-info/METADATA": b"Metadata-Version: 2.1\nName: rexrank-tiny-dep\nVersion: 0.1\n",
        "rexrank_tiny_dep-0.1.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: rexrank-tests\nRoot-Is-Purelib: true\n"
                                                b"Tag: py3-none-any\n",
    }
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in files.items())
    record += "rexrank_tiny_dep-0.1.dist-info/RECORD,,\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in [*files.items(), ("rexrank_tiny_dep-0.1.dist-info/RECORD", record.encode())]:
            archive.writestr(zipfile.ZipInfo(name, date_time=(2025, 1, 1, 0, 0, 0)), data)  # same bytes every time
    path = folder / "wheels" / "rexrank_tiny_dep-0.1-py3-none-any.whl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return path


def write_submission(folder: str | Path, variant: str = "ok", *, escape_paths: tuple[str, ...] = (),
                     escape_reads: tuple[str, ...] = (), escape_port: int = 9) -> Path:
    """Write the ``variant`` submission folder (the same requirements.txt for every variant)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_helper_wheel(folder)
    (folder / "requirements.txt").write_text("# nothing heavy: one pure-Python helper, from a wheel in this folder\n"
                                             "./wheels/rexrank_tiny_dep-0.1-py3-none-any.whl\n")
    (folder / "inference.py").write_text(_SCRIPT.format(variant=variant))
    if variant == "escape":
        (folder / "escape.json").write_text(json.dumps({"paths": list(escape_paths), "reads": list(escape_reads),
                                                        "port": escape_port}))
    (folder / "README.md").write_text(f"# Tiny ReXrank submission ({variant})\n\nRuns on any ReXrank test set; "
                                      "writes a template report per study.\n")
    return folder


def submission_files(variant: str = "ok", **kwargs) -> dict[str, bytes]:
    """The variant's files as ``{path in repo: bytes}`` (to serve as a Hub repo)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        root = write_submission(Path(tmp) / "s", variant, **kwargs)
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
