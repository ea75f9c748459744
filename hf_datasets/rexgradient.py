"""ReXGradient-160K (Zhang et al., 2025; the gated Hub dataset ``rajpurkarlab/ReXGradient-160K``).

The public release is not in ReXrank's manifest format. This module reads its own layout and
turns each study into a ReXrank-shaped entry, which ``rexrank.datasets.manifests`` then
normalises like any other manifest. Only what public material establishes is read (sources in
the README section "ReXGradient-160K"); anything else is refused with an error that says so:

* per split one file, ``metadata/{test,valid}_metadata_view_position.json``: a JSON object keyed
  by the study id ``p<PatientID>_a<AccessionNumber>_s<StudyInstanceUid>``; each record has the
  report sections ``Indication``, ``Comparison``, ``Findings``, ``Impression``, the patient's
  ``PatientID``, ``PatientAge`` (DICOM age string, ``"007Y"``), ``PatientSex``, ``EthnicGroup``,
  and per image the index-aligned lists ``ImagePath`` (``"../deid_png/<PatientID>/..."``,
  relative to ``metadata/``) and ``ImageViewPosition``; missing values are ``NaN``, ``None`` or
  ``"None"``;
* the images, ``deid_png.partNN``: in order, one archive rooted at ``deid_png/``, found
  zstd-compressed in practice (plain tar per the card); both are recognised by their magic bytes.

No public source names a site or health-system field, so the per-site stratum is opt-in:
``site_field=`` / ``REXRANK_REXGRADIENT_SITE_FIELD`` names the record field to read as ``site``,
and a study without it is an error. Access goes through ``huggingface_hub`` with the token in
``HF_TOKEN`` only; a refused request names the agreement to accept.
"""

from __future__ import annotations

import logging
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Sequence

from rexrank import hub_env
from rexrank.datasets.registry import get_test_set
from rexrank.errors import InputError, describe_ids

logger = logging.getLogger(__name__)

CONFIG = "rexgradient_160k"
AGREEMENT = "ReXGradient-160K Non-Commercial Data Access and Use Agreement"
SPLIT_FILES = {"test": "test", "validation": "valid"}  # our split name -> the release's file prefix
IMAGE_PREFIX = "../deid_png/"  # ImagePath is relative to metadata/; images live in deid_png/
IMAGE_ROOT_NAME = "deid_png"
PART = re.compile(r"^deid_png\.part(\d+)$")
SECTION_FIELDS = ("Findings", "Impression")  # required in every record (they may be empty)
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def repo_id() -> str:
    return str(get_test_set(CONFIG).hub_dataset)


def page_url() -> str:
    return f"https://huggingface.co/datasets/{repo_id()}"


def metadata_path(split: str) -> str:
    """The release's metadata file of ``split`` (``test`` or ``validation``)."""
    try:
        return f"metadata/{SPLIT_FILES[split]}_metadata_view_position.json"
    except KeyError:
        raise InputError(f"ReXGradient-160K has no split {split!r} here; it has: {', '.join(SPLIT_FILES)}") from None


def revision() -> str:
    """The dataset revision to read: ``REXRANK_REXGRADIENT_REVISION`` (a commit sha pins it), else main."""
    return os.environ.get("REXRANK_REXGRADIENT_REVISION") or "main"




# --------------------------------------------------------------------------- Hub access

def access_refused(status: int | None) -> InputError:
    """The message for a 401/403 from the gated repo: which agreement, where, which token."""
    token_note = ("HF_TOKEN is not set, so no token was sent" if not os.environ.get("HF_TOKEN")
                  else "the token in HF_TOKEN has not been granted access")
    code = f" (HTTP {status})" if status else ""
    return InputError(
        f"the Hub refused access to the gated dataset {repo_id()}{code}: {token_note}. Log in at {page_url()}, "
        f"accept the \"{AGREEMENT}\" (non-commercial research use), wait for access to be granted, then set "
        "HF_TOKEN to a read token of that account (https://huggingface.co/settings/tokens).")


@contextmanager
def hub_access(what: str) -> Iterator[None]:
    """Turn the Hub client's errors about ``what`` into one clear message each."""
    from huggingface_hub.errors import (EntryNotFoundError, GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError,
                                        RepositoryNotFoundError, RevisionNotFoundError)

    try:
        yield
    except GatedRepoError as err:
        raise access_refused(_status(err)) from None
    except LocalEntryNotFoundError:
        raise InputError(
            f"{what} of {repo_id()} is not in the local HuggingFace cache and the Hub cannot be reached "
            f"(HF_HUB_OFFLINE={os.environ.get('HF_HUB_OFFLINE', '')!r}). Go online once, or pass --manifest with a "
            f"local copy of {what}.") from None
    except RevisionNotFoundError:
        raise InputError(f"{repo_id()} has no revision {revision()!r} (REXRANK_REXGRADIENT_REVISION)") from None
    except EntryNotFoundError:
        raise InputError(f"{repo_id()}@{revision()} has no file {what}: the release's layout is not the one this "
                         "reader knows (see the README section ReXGradient-160K)") from None
    except RepositoryNotFoundError as err:
        # the Hub answers 401 for a gated repo to a client without a token, which the client reports as "not found"
        if _status(err) in (401, 403):
            raise access_refused(_status(err)) from None
        raise InputError(f"the Hub dataset {repo_id()} was not found on the Hub (HF_ENDPOINT)") from None
    except HfHubHTTPError as err:
        if _status(err) in (401, 403):
            raise access_refused(_status(err)) from None
        raise


def _status(err: BaseException) -> int | None:
    response = getattr(err, "response", None)
    return getattr(response, "status_code", None)


def _download(filename: str, *, local_dir: str | os.PathLike | None = None) -> Path:
    from huggingface_hub import hf_hub_download

    with hub_access(filename):
        return Path(hf_hub_download(repo_id(), filename, repo_type="dataset", revision=revision(),
                                    token=hub_env.token(), endpoint=hub_env.endpoint(), local_dir=local_dir))


def _commit_of(path: Path, fallback: str) -> str:
    """The commit sha a cached download belongs to (``.../snapshots/<sha>/metadata/file``)."""
    for parent in path.parents:
        if parent.parent.name == "snapshots":
            return parent.name
    return fallback


# --------------------------------------------------------------------------- metadata

def read_metadata(split: str, manifest: str | os.PathLike | None = None) -> tuple[bytes, str]:
    """``(raw bytes, source)`` of ``split``'s metadata: from the Hub (gated), or a local copy.

    ``manifest`` may be that file, or a folder holding it (``DIR/metadata/...`` as in a download
    of the repo, or ``DIR/...``).
    """
    wanted = metadata_path(split)
    if manifest is None:
        path = _download(wanted)
        return path.read_bytes(), f"hub:{repo_id()}@{_commit_of(path, revision())}:{wanted}"
    path = Path(manifest)
    if path.is_dir():
        found = [p for p in (path / wanted, path / Path(wanted).name) if p.is_file()]
        if not found:
            raise InputError(f"{str(path)!r} holds neither {wanted} nor {Path(wanted).name} (ReXGradient-160K, "
                             f"split {split!r})")
        path = found[0]
    elif not path.is_file():
        raise InputError(f"manifest file {str(path)!r} does not exist (config {CONFIG!r}, split {split!r})")
    return path.read_bytes(), str(path)


def to_rexrank(data: bytes, split: str, *, where: str, site_field: str | None = None) -> dict[str, dict]:
    """ReXrank-shaped entries (``image_path``, ``key_image_path``, ``frontal_lateral``, ``context``,
    ``section_*``, ``report`` + ``subject_id``, ``age``, ``sex``, ``ethnicity``, ``site``) of one
    split's ``*_metadata_view_position.json``. A file already in ReXrank's shape passes through.

    Studies with neither findings nor impression have no reference to score against: they are
    left out and listed in the log.
    """
    from rexrank.datasets.manifests import decode_manifest

    raw = decode_manifest(data, where, what="ReXGradient-160K metadata")
    site_field = site_field or os.environ.get("REXRANK_REXGRADIENT_SITE_FIELD") or None
    first = next(iter(raw.values()))
    if isinstance(first, dict) and "image_path" in first and "ImagePath" not in first:
        if site_field:
            raise InputError(f"{where} is already in ReXrank's format; a site_field applies only to the release's "
                             "own metadata (put a 'site' field in each entry instead)")
        return raw
    entries, unreported = {}, []
    for study_id, record in raw.items():
        entry = convert_study(study_id, record, split, site_field)
        if entry is None:
            unreported.append(study_id)
        else:
            entries[study_id] = entry
    if unreported:
        logger.info("%s: left out %s: neither findings nor impression, so no reference to score against",
                    where, describe_ids(unreported))
    if not entries:
        raise InputError(f"{where} has no study with findings or an impression")
    return entries


def _missing(value: Any) -> bool:
    """Missing as in every manifest (NaN, None, blank, "nan"), and the release's text "None"."""
    from rexrank.datasets.manifests import is_missing

    return is_missing(value) or (isinstance(value, str) and value.strip().lower() == "none")


def _text(study_id: str, record: dict, key: str) -> str | None:
    value = record.get(key)
    if _missing(value):
        return None
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise InputError(f"ReXGradient-160K study {study_id!r}, field {key!r}: expected text, got "
                         f"{type(value).__name__}")
    return str(value).strip()


def age_in_years(value: str | None) -> str | None:
    """DICOM age strings (``007Y``, ``011M``, ``003W``, ``002D``) as completed years; other text as is."""
    if value is None:
        return None
    match = re.fullmatch(r"(\d{1,3})\s*([YMWD])", value.strip().upper())
    if not match:
        return value
    number, unit = int(match.group(1)), match.group(2)
    years = {"Y": number, "M": number // 12, "W": number // 52, "D": number // 365}[unit]
    return str(years)


def image_relpath(study_id: str, path: Any) -> str:
    """``../deid_png/<...>.png`` (relative to metadata/) -> ``deid_png/<...>.png`` (relative to the
    folder the archive was extracted into, the image root)."""
    if not isinstance(path, str) or not path.startswith(IMAGE_PREFIX):
        raise InputError(f"ReXGradient-160K study {study_id!r}: image path {str(path)[:120]!r} is not of the "
                         f"documented form '{IMAGE_PREFIX}<PatientID>/...'; this reader knows only that layout")
    rel = path[len("../"):]
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts[1:]) or "\\" in rel:
        raise InputError(f"ReXGradient-160K study {study_id!r}: image path {path[:120]!r} has empty, '.' or '..' "
                         "segments; refusing it")
    return rel


def convert_study(study_id: str, record: Any, split: str, site_field: str | None = None) -> dict | None:
    """One release record -> one ReXrank-shaped entry (None when it has no report text at all)."""
    if not isinstance(record, dict):
        raise InputError(f"ReXGradient-160K study {study_id!r}: expected an object of fields, got "
                         f"{type(record).__name__}")
    absent = [k for k in ("ImagePath", *SECTION_FIELDS) if k not in record]
    if absent:
        raise InputError(f"ReXGradient-160K study {study_id!r} has no {', '.join(map(repr, absent))} field; the "
                         f"reader expects the documented *_metadata_view_position.json layout (fields seen: "
                         f"{', '.join(sorted(record)[:12])})")
    findings, impression = _text(study_id, record, "Findings"), _text(study_id, record, "Impression")
    if findings is None and impression is None:
        return None
    paths = record["ImagePath"]
    if not isinstance(paths, list) or not paths:
        raise InputError(f"ReXGradient-160K study {study_id!r}, field 'ImagePath': expected a non-empty list")
    images = [image_relpath(study_id, p) for p in paths]
    views_raw = record.get("ImageViewPosition")
    views = [None if _missing(v) else str(v).strip() for v in views_raw] if isinstance(views_raw, list) else None
    from rexrank.datasets.manifests import normalise_view

    key = images[0]
    if views is not None and len(views) == len(images):
        key = next((p for p, v in zip(images, views) if normalise_view(v) == "frontal"), images[0])
    indication, comparison = _text(study_id, record, "Indication"), _text(study_id, record, "Comparison")
    context = " ".join(part for part in (f"Indication: {indication}" if indication else "",
                                         f"Comparison: {comparison}" if comparison else "") if part)
    entry: dict[str, Any] = {
        "image_path": images,
        "key_image_path": key,
        "frontal_lateral": views,
        "context": context or None,
        "section_findings": findings,
        "section_impression": impression,
        "report": f"Findings: {findings or 'None.'} Impression: {impression or 'None.'}",
        "split": split,
        "subject_id": _text(study_id, record, "PatientID"),
        "age": age_in_years(_text(study_id, record, "PatientAge")),
        "sex": _text(study_id, record, "PatientSex"),
        "ethnicity": _text(study_id, record, "EthnicGroup"),
    }
    if site_field:
        if site_field not in record:
            raise InputError(f"ReXGradient-160K study {study_id!r} has no field {site_field!r} (the site field you "
                             f"named); its fields are: {', '.join(sorted(record))}")
        entry["site"] = _text(study_id, record, site_field)
    return entry


# --------------------------------------------------------------------------- images

def list_image_parts() -> tuple[str, list[str]]:
    """``(commit, part file names in order)`` of the image archive in the Hub repo."""
    from huggingface_hub import HfApi

    with hub_access("the file list"):
        info = HfApi(endpoint=hub_env.endpoint(), token=hub_env.token()).dataset_info(repo_id(), revision=revision())
    parts = sorted((s.rfilename for s in info.siblings or [] if PART.match(s.rfilename)),
                   key=lambda n: int(PART.match(n).group(1)))
    if not parts:
        raise InputError(f"{repo_id()}@{info.sha} has no deid_png.partNN files: the image archive is not where this "
                         "reader expects it")
    return str(info.sha), parts


def download_image_parts(parts_dir: str | os.PathLike) -> list[Path]:
    """Download (or resume) every ``deid_png.partNN`` into ``parts_dir``; about 150 GB in all."""
    commit, names = list_image_parts()
    logger.info("downloading %d image archive parts of %s@%s into %s", len(names), repo_id(), commit, parts_dir)
    return [_download(name, local_dir=parts_dir) for name in names]


def local_parts(parts_dir: str | os.PathLike) -> list[Path]:
    folder = Path(parts_dir)
    parts = sorted((p for p in folder.iterdir() if PART.match(p.name)), key=lambda p: int(PART.match(p.name).group(1))) \
        if folder.is_dir() else []
    if not parts:
        raise InputError(f"{str(folder)!r} holds no deid_png.partNN files")
    numbers = [int(PART.match(p.name).group(1)) for p in parts]
    if numbers != list(range(numbers[0], numbers[0] + len(numbers))) or numbers[0] != 0:
        raise InputError(f"the image archive parts in {str(folder)!r} are not consecutive from part00 "
                         f"({', '.join(p.name for p in parts)}); download the missing ones first")
    return parts


class _Concatenated:
    """The parts read one after the other as one binary stream (``cat deid_png.part*``)."""

    def __init__(self, parts: Sequence[Path], on_read=None):
        self._paths = list(parts)
        self._handle: BinaryIO | None = None
        self._on_read = on_read

    def read(self, size: int = -1) -> bytes:
        chunks = []
        while size != 0:
            if self._handle is None:
                if not self._paths:
                    break
                self._handle = open(self._paths.pop(0), "rb")
            chunk = self._handle.read(size if size > 0 else 1 << 20)
            if not chunk:
                self._handle.close()
                self._handle = None
                continue
            chunks.append(chunk)
            if self._on_read:
                self._on_read(len(chunk))
            if size > 0:
                size -= len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


def archive_kind(first_part: Path) -> str:
    """``zstd`` or ``tar``, from the first part's magic bytes; anything else is refused."""
    with open(first_part, "rb") as handle:
        head = handle.read(512)
    if head.startswith(_ZSTD_MAGIC):
        return "zstd"
    if head[257:262] == b"ustar":
        return "tar"
    raise InputError(f"{first_part.name} is neither a zstd stream nor a tar archive (its first bytes are "
                     f"{head[:4].hex()}); this reader knows only those two forms of the image archive")


def extract_images(parts: Sequence[Path], out_dir: str | os.PathLike, *, progress: bool = True) -> dict[str, int]:
    """Extract the concatenated archive into ``out_dir`` (which then holds ``deid_png/``).

    Only regular files under ``deid_png/`` are written (no links, devices, absolute or ``..``
    paths: tarfile's ``data`` filter); files already there with the right size are kept, so an
    interrupted extraction can be rerun. Returns counts of files written, kept and skipped.
    """
    import tarfile

    from tqdm.auto import tqdm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    kind = archive_kind(parts[0])
    total = sum(p.stat().st_size for p in parts)
    bar = tqdm(total=total, unit="B", unit_scale=True, desc="extracting images", disable=not progress)
    raw = _Concatenated(parts, on_read=bar.update)
    stream: Any = raw
    if kind == "zstd":
        try:
            import zstandard
        except ImportError:
            raise InputError("the image archive is zstd-compressed: install the zstandard package "
                             "(pip install zstandard)") from None
        stream = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
    counts = {"written": 0, "kept": 0, "skipped": 0}
    try:
        with tarfile.open(fileobj=stream, mode="r|") as archive:
            for member in archive:
                name = member.name[2:] if member.name.startswith("./") else member.name
                inside = name == IMAGE_ROOT_NAME or name.startswith(IMAGE_ROOT_NAME + "/")
                if not inside or not (member.isfile() or member.isdir()):
                    counts["skipped"] += 1
                    logger.warning("image archive: skipping %r (only files and folders under %s/ are extracted)",
                                   member.name[:200], IMAGE_ROOT_NAME)
                    continue
                target = out / name
                if member.isfile() and target.is_file() and target.stat().st_size == member.size:
                    counts["kept"] += 1
                    continue
                try:
                    archive.extract(member, out, filter="data")
                except tarfile.FilterError as err:
                    counts["skipped"] += 1
                    logger.warning("image archive: refusing %r (%s)", member.name[:200], err)
                    continue
                counts["written"] += member.isfile()
    except tarfile.ReadError as err:
        raise InputError(f"the image archive parts do not form one readable {kind} archive ({err}); check that every "
                         "part is complete (re-download a part whose size differs from the Hub's)") from None
    finally:
        bar.close()
        raw.close()
    logger.info("image archive: %d files written, %d already there, %d skipped, into %s", counts["written"],
                counts["kept"], counts["skipped"], out / IMAGE_ROOT_NAME)
    return counts
