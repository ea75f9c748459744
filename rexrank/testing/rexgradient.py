"""A small synthetic copy of ReXGradient-160K in the release's own layout (see ``rexrank.datasets.rexgradient``).

Only the parts of the layout that public material establishes are written: the per-split
``metadata/{test,valid}_metadata_view_position.json`` (study id ``p<PatientID>_a<Acc>_s<StudyUid>``,
the study fields and the index-aligned ``ImagePath`` / ``ImageViewPosition`` lists, with the
release's ``NaN`` / ``None`` / ``"None"`` for missing values) and the image archive
``deid_png.partNN``: one zstd-compressed tar rooted at ``deid_png/``, cut into parts. The
reports are made-up text; nothing comes from the real dataset.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

from rexrank.testing.standins.generation import write_png

SITES = ("site-A", "site-B", "site-C")
_FINDINGS = ["The lungs are clear. No pleural effusion or pneumothorax.", "Mild cardiomegaly. No focal consolidation.",
             "Stable mediastinal contours. Lungs are clear.", "Small left pleural effusion.",
             "Heart size is normal. No acute osseous abnormality."]
_IMPRESSIONS = ["No acute cardiopulmonary process.", "Cardiomegaly without edema.", "No acute findings.",
                "Small left effusion.", "Normal chest."]


def _uid(prefix: str, n: int) -> str:
    return f"GRDN{prefix}{n:08d}"


def study_records(split: str, n: int, *, seed: int = 0) -> dict[str, dict[str, Any]]:
    """``n`` studies of ``split`` (``test``/``valid``) as the release's view-position records.

    Study 1 has no findings (``None``), study 2 a ``"None"`` impression, study 3 neither section
    (the reader leaves it out), study 4 lists one more view than images; every study carries a
    made-up ``InstitutionName`` (not a documented field: it exercises ``site_field``).
    """
    records = {}
    for i in range(n):
        k = seed * 1000 + i
        patient, accession, study = _uid("P", k), _uid("A", k), _uid("S", k)
        series = _uid("R", k)
        n_images = 1 + i % 2
        paths = [f"../deid_png/{patient}/{accession}/studies/{study}/series/{series}/instances/{_uid('I', 10 * k + j)}.png"
                 for j in range(n_images)]
        views = ["PA", "LATERAL"][:n_images] if i % 3 else ["AP", "LL"][:n_images]
        if i == 4:
            views = views + ["LATERAL"]
        findings: Any = _FINDINGS[i % len(_FINDINGS)]
        impression: Any = _IMPRESSIONS[i % len(_IMPRESSIONS)]
        if i == 1:
            findings = None
        if i == 2:
            impression = "None"
        if i == 3:
            findings, impression = float("nan"), None
        records[f"p{patient}_a{accession}_s{study}"] = {
            "PatientID": patient, "StudyInstanceUid": study, "AccessionNumber": accession,
            "PatientSex": "MF"[i % 2], "PatientAge": f"{30 + i:03d}Y" if i != 5 else "011M",
            "StudyDate": 20200101 + i, "EthnicGroup": float("nan") if i % 4 == 0 else "White",
            "Indication": "Shortness of breath." if i % 2 else float("nan"), "Comparison": "None",
            "Findings": findings, "Impression": impression,
            "ImagePath": paths, "ImageViewPosition": views,
            "ImageModality": ["DX"] * n_images, "ImageShape": [[64, 64]] * n_images,
            "ImageBodyPart": ["CHEST"] * n_images,
            "InstitutionName": SITES[i % len(SITES)],
        }
    return records


def write_copy(root: str | Path, *, n_test: int = 8, n_valid: int = 6, n_parts: int = 3) -> dict[str, Any]:
    """Write the synthetic copy under ``root``: ``metadata/``, ``deid_png.partNN`` and, for
    comparison, the extracted ``images/deid_png/``. Returns the paths and the Hub-style
    ``files`` mapping (repo path -> bytes) to serve from a fake Hub."""
    import zstandard

    root = Path(root)
    records = {"test": study_records("test", n_test, seed=1), "valid": study_records("valid", n_valid, seed=2)}
    files: dict[str, bytes] = {"README.md": b"---\nlicense: other\n---\n# ReXGradient-160K (synthetic test copy)\n"}
    for prefix, studies in records.items():
        data = json.dumps(studies, indent=1).encode("utf-8")  # NaN literals, as the release has them
        files[f"metadata/{prefix}_metadata_view_position.json"] = data
    images = root / "images"
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w") as archive:
        for seed, (prefix, studies) in enumerate(records.items()):
            for j, record in enumerate(studies.values()):
                for k, path in enumerate(record["ImagePath"]):
                    rel = path[len("../"):]
                    png = write_png(images / rel, seed=100 * seed + 10 * j + k)
                    archive.add(png, arcname=rel)
    compressed = zstandard.ZstdCompressor(level=3).compress(tar_bytes.getvalue())
    size = -(-len(compressed) // n_parts)
    for n in range(n_parts):
        files[f"deid_png.part{n:02d}"] = compressed[n * size:(n + 1) * size]
    for name, data in files.items():
        target = root / "repo" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return {"repo": root / "repo", "images": images, "files": files, "records": records}
