"""ReXrank's own submission protocol: a folder with ``inference.py`` and an environment file, run the ReXrank way.

ReXrank's submission tutorial (round 2) asks for an environment file and a script run as
``python inference.py --input_json_file IN --save_json_file OUT --img_root_dir DIR``, where IN
is the test-set JSON (an object keyed by study id) and OUT the same object with a
``model_prediction`` per study. :func:`run_inference_script` does that:

1. the environment is built from ``environment.yaml`` (conda/mamba/micromamba, when one is
   installed) or ``requirements.txt`` (a venv), cached by the file's sha256
   (:mod:`rexrank.space.generation.environments`);
2. IN holds the manifest's own fields of every study still to do, image paths relative to the
   image root (never with a leading ``/``, so both ``root + path`` and ``os.path.join`` work;
   ``--img_root_dir`` ends with ``/``). The reference texts (``section_findings``,
   ``section_impression``, ``report``) are withheld: a script must not be able to copy them;
3. the script runs under a time limit in a fresh scratch folder (its working directory,
   ``HOME`` and ``TMPDIR``), isolated where the platform allows (:mod:`.sandbox`: no network,
   everything read-only but the scratch folder, no secrets in its environment);
4. OUT is read with the project's predictions reader; every study without a usable prediction
   is named with the reason (crash, time limit, malformed file, empty report, skipped).

Resumable at the level of the protocol: what is done is saved in ``<out>.progress.json``
(the same sidecar as ``rexrank generate --model``), OUT is harvested while the script runs,
and a rerun sends only the studies still missing.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from rexrank.digests import sha256_bytes, sha256_json
from rexrank.errors import InputError, RexrankError, describe_ids
from rexrank.files import atomic_write_json

logger = logging.getLogger(__name__)

SCRIPT = "inference.py"
ENVIRONMENT_FILES = ("environment.yaml", "environment.yml", "requirements.txt")
WITHHELD = ("section_findings", "section_impression", "report", "reports")  # references never go to the script
DEFAULT_TIME_LIMIT_S = 12 * 3600.0
HARVEST_EVERY_S = 10.0
IDENTITY = ("protocol", "dataset", "split", "section", "manifest_sha256", "submission", "environment")
FORMAT_VERSION = 1
_DIGEST_WHOLE_FILE_BYTES = 64 * 2**20  # larger files (weights) enter the digest by size and mtime


@dataclass(frozen=True)
class Submission:
    """A submission folder: its script, its environment file, and a digest of its contents."""

    folder: Path
    script: Path
    environment_file: Path
    environment_kind: str  # "venv" | "conda"
    digest: str
    name: str  # shown in summaries (a Hub repo id, or the folder's name)
    revision: str  # the Hub commit, or "local"


def _inside(root: Path, relative: str, what: str, must_exist: bool = True) -> Path:
    from rexrank.paths import resolve_inside

    return resolve_inside(root, relative, what=what, kind="file", must_exist=must_exist)


def folder_digest(folder: Path) -> str:
    """sha256 over every file's path and content (big files: path, size and mtime), ignoring caches."""
    items = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if any(part in ("__pycache__", ".git", ".cache") for part in rel.parts) or not path.is_file():
            continue
        size = path.stat().st_size
        if size <= _DIGEST_WHOLE_FILE_BYTES:
            items.append([str(rel), sha256_bytes(path.read_bytes())])
        else:
            items.append([str(rel), size, path.stat().st_mtime_ns])
    return sha256_json(items)


def find_submission(folder: str | os.PathLike, environment: str | os.PathLike | None = None, *,
                    name: str | None = None, revision: str = "local") -> Submission:
    """Check a submission folder: ``inference.py`` and an environment file (``environment`` or the first
    of environment.yaml, environment.yml, requirements.txt; a yaml file needs conda/mamba)."""
    from rexrank.space.generation import environments

    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"--inference-script {str(folder)!r} is not a folder; give the folder that holds {SCRIPT}")
    script = _inside(root, SCRIPT, "the inference script", must_exist=False)
    if not script.is_file():
        raise InputError(f"{root.name} has no {SCRIPT}: ReXrank's protocol runs `python {SCRIPT} --input_json_file IN "
                         "--save_json_file OUT --img_root_dir DIR` from the submission folder")
    if environment is not None:
        env_file = Path(environment)
        if not env_file.is_file():
            raise InputError(f"environment file {str(environment)!r} does not exist")
    else:
        present = [root / n for n in ENVIRONMENT_FILES if (root / n).is_file()]
        if not present:
            raise InputError(f"{root.name} has no environment file ({', '.join(ENVIRONMENT_FILES)}); add one, or name "
                             "it with --environment FILE")
        yaml_files = [p for p in present if p.suffix in (".yaml", ".yml")]
        requirements = [p for p in present if p.name == "requirements.txt"]
        if yaml_files and (environments.conda_tool() is not None or not requirements):
            env_file = yaml_files[0]
        else:
            env_file = requirements[0]
            if yaml_files:
                logger.info("%s: no conda/mamba here, so the venv from requirements.txt is used instead of %s",
                            root.name, yaml_files[0].name)
        env_file = _inside(root, env_file.name, "the environment file")
    kind = "conda" if env_file.suffix in (".yaml", ".yml") else "venv"
    return Submission(folder=root.resolve(), script=script, environment_file=env_file.resolve(), environment_kind=kind,
                      digest=folder_digest(root), name=name or root.resolve().name, revision=revision)


def prepare_environment(submission: Submission, root: Path | None = None):
    """The submission's environment, built on first use and cached by its environment file's sha256."""
    from rexrank.space.generation import environments

    digest = sha256_bytes(submission.environment_file.read_bytes())[:16]
    folder = (root or environments.venv_root()) / f"submission-{submission.environment_kind}-{digest}"
    what = f"submission {submission.name} ({submission.environment_file.name})"
    if submission.environment_kind == "conda":
        return environments.ensure_conda(folder, submission.environment_file, what=what)
    return environments.ensure_venv(folder, requirements_file=submission.environment_file, what=what,
                                    cwd=submission.folder)


# --------------------------------------------------------------------------- the test-set JSON


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def rexrank_entry(raw: dict[str, Any], study: dict[str, Any]) -> dict[str, Any]:
    """The JSON entry a script gets for one study: the manifest's own fields, references withheld,
    image paths as normalised (relative to the image root), NaN written as null."""
    entry = {k: v for k, v in raw.items() if k not in WITHHELD}
    entry["image_path"] = list(study["image_paths"])
    if "key_image_path" in raw or study.get("key_image") is not None:
        entry["key_image_path"] = study.get("key_image")
    return _json_safe(entry)


def check_images(study: dict[str, Any], image_root: Path) -> str | None:
    """Why the study cannot be sent (an image path leaving the root, a missing file), or None."""
    paths = list(study.get("image_paths") or [])
    if study.get("key_image"):
        paths.append(study["key_image"])
    if not paths:
        return "the manifest lists no image for this study"
    for rel in paths:
        try:
            _inside(image_root, rel, f"study {study['study_id']!r} image")
        except RexrankError as err:
            return f"{err} (is --data-dir the image root of this test set?)"
    return None


# --------------------------------------------------------------------------- running


@dataclass
class _Run:
    exit_code: int | None
    timed_out: bool
    seconds: float
    log_tail: str


def _placeholders(text: str, paths: dict[str, Path]) -> str:
    """Server paths in the script's output replaced by names (messages may reach a web page)."""
    for name, path in sorted(paths.items(), key=lambda kv: -len(str(kv[1]))):
        text = text.replace(str(path), f"<{name}>")
    return text


def _tail(log: Path, start: int, paths: dict[str, Path], lines: int = 12, chars: int = 1500) -> str:
    from rexrank.redaction import redact

    with open(log, "rb") as handle:
        handle.seek(start)
        text = handle.read().decode("utf-8", errors="replace")
    tail = "\n".join(text.strip().splitlines()[-lines:])[-chars:]
    return redact(_placeholders(tail, paths))


def _execute(command: list[str], *, cwd: Path, env: dict, log: Path, time_limit: float,
             on_tick: Callable[[], None], tick_seconds: float) -> tuple[int | None, bool, float]:
    """Run ``command`` in its own session, its output appended to ``log``; kill the whole group at the limit."""
    started = time.monotonic()
    with open(log, "ab") as out:
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        timed_out = False
        try:
            while True:
                remaining = time_limit - (time.monotonic() - started)
                try:
                    proc.wait(timeout=max(0.01, min(tick_seconds, remaining)))
                    break
                except subprocess.TimeoutExpired:
                    if time.monotonic() - started >= time_limit:
                        timed_out = True
                        break
                    on_tick()
        finally:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
    return (None if timed_out else proc.returncode), timed_out, time.monotonic() - started


def run_inference_script(folder: str | os.PathLike, dataset: str, out: str | os.PathLike, *, split: str = "test",
                         section: str = "findings", data_dir: str | os.PathLike | None = None,
                         manifest: str | os.PathLike | None = None, environment: str | os.PathLike | None = None,
                         time_limit: float = DEFAULT_TIME_LIMIT_S, isolation: str = "auto", network: bool = False,
                         limit: int | None = None, venvs: str | os.PathLike | None = None,
                         name: str | None = None, revision: str = "local", scratch_dir: str | os.PathLike | None = None,
                         harvest_seconds: float = HARVEST_EVERY_S, **_ignored: Any):
    """Run the submission in ``folder`` on the ``dataset``/``split`` test set; returns a ``GenerationSummary``.

    Writes ReXrank's predictions JSON to ``out`` (the studies done so far) and the progress
    sidecar ``<out>.progress.json``; the script's output is appended to ``<out>.script.log``.
    ``isolation``: ``auto`` (sandbox where possible, else unisolated with a warning),
    ``sandbox`` (refuse to run unisolated) or ``none``; ``network=True`` leaves the network on.
    """
    from rexrank.datasets.manifests import load_manifest
    from rexrank.datasets.predictions import write_predictions
    from rexrank.datasets.tracks import select_track
    from rexrank.space.generation import sandbox
    from rexrank.space.generation.run import GenerationSummary, load_progress, progress_path

    started = time.monotonic()
    out = Path(out)
    submission = find_submission(folder, environment, name=name, revision=revision)
    loaded = load_manifest(dataset, split, manifest)
    track = select_track(loaded, section)
    studies = track.studies[:limit] if limit else track.studies
    if data_dir is None:
        raise InputError(f"running a submission needs the {dataset} images: pass data_dir= / --data-dir, the folder "
                         "the manifest's image paths are relative to")
    image_root = Path(data_dir).resolve()
    if not image_root.is_dir():
        raise InputError(f"image folder {data_dir} does not exist")
    if time_limit <= 0:
        raise InputError("the time limit must be a positive number of seconds")
    identity = {"protocol": "rexrank-inference-script/1", "dataset": dataset, "split": split, "section": section,
                "manifest_sha256": track.manifest_sha256, "submission": submission.digest,
                "environment": sha256_bytes(submission.environment_file.read_bytes())}
    sidecar = progress_path(out)
    state = load_progress(sidecar, identity, keys=IDENTITY)
    done: dict[str, str] = state["done"]
    failed: dict[str, str] = {}
    resumed = sum(1 for s in studies if s["study_id"] in done)
    record: dict[str, Any] = {
        "run": identity, "reason": "ReXrank protocol: python inference.py --input_json_file IN --save_json_file OUT "
                                   "--img_root_dir DIR",
        "model": f"{submission.name}@{submission.revision}", "n_studies": len(studies),
        "submission": {"name": submission.name, "revision": submission.revision, "digest": submission.digest,
                       "environment_file": submission.environment_file.name, "kind": submission.environment_kind},
        "test_set": {"config": track.config, "split": track.split, "track": track.track,
                     "manifest_sha256": track.manifest_sha256, "manifest": track.manifest_source},
        "withheld_fields": list(WITHHELD), "time_limit_s": time_limit, "runs": list(state.get("runs", [])),
    }

    def save(complete: bool) -> None:
        atomic_write_json(sidecar, {"format_version": FORMAT_VERSION, **record, "complete": complete,
                                     "done": done, "failed": failed})

    to_send = []
    for study in studies:
        if study["study_id"] in done:
            continue
        problem = check_images(study, image_root)
        if problem:
            failed[study["study_id"]] = problem
        else:
            to_send.append(study)
    summary_kwargs = dict(out=out, progress_file=sidecar, model=submission.name, revision=submission.revision,
                          adapter="inference-script", reason=record["reason"], dataset=dataset, split=split,
                          section=section, n_studies=len(studies), resumed=resumed)
    if to_send:
        env = prepare_environment(submission, Path(venvs) if venvs else None)
        record["environment"] = {"kind": env.kind, "digest": env.digest, "created": env.created,
                                 "file": submission.environment_file.name}
        scratch = Path(tempfile.mkdtemp(prefix="rexrank-script-", dir=scratch_dir)).resolve()
        try:
            _run_once(submission, env, loaded.entries, to_send, image_root, scratch, out, done, failed, record, save,
                      time_limit=time_limit, isolation=isolation, network=network, harvest_seconds=harvest_seconds,
                      sandbox=sandbox)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    order = [s["study_id"] for s in studies if s["study_id"] in done]
    write_predictions(out, {i: done[i] for i in order}, studies=studies)
    save(complete=not failed and len(order) == len(studies))
    if failed:
        logger.warning("%d of %d studies have no prediction (%s); they are listed in %s and a rerun sends them again",
                       len(failed), len(studies), describe_ids(list(failed)), sidecar)
    return GenerationSummary(**summary_kwargs, n_generated=len(order), failures=dict(failed),
                             seconds=round(time.monotonic() - started, 3), record=record)


def _run_once(submission: Submission, env, entries: dict[str, dict], to_send: list[dict], image_root: Path,
              scratch: Path, out: Path, done: dict[str, str], failed: dict[str, str], record: dict, save,
              *, time_limit: float, isolation: str, network: bool, harvest_seconds: float, sandbox) -> None:
    """One invocation of the script on ``to_send``; harvests OUT during and after it."""
    from rexrank.datasets.predictions import PROBLEMS, PredictionFileError, read_usable_predictions

    input_file, output_file = scratch / "input.json", scratch / "output.json"
    payload = {s["study_id"]: rexrank_entry(entries.get(s["study_id"], {}), s) for s in to_send}
    input_file.write_text(json.dumps(payload, indent=1, ensure_ascii=False, allow_nan=False), encoding="utf-8")
    sent = list(payload)
    python = env.folder.resolve() / "bin" / "python"
    command = [str(python), str(submission.script), "--input_json_file", str(input_file),
               "--save_json_file", str(output_file), "--img_root_dir", str(image_root) + os.sep]
    needed = [env.folder, submission.folder, image_root] + ([Path(sys.base_prefix)] if env.kind == "venv" else [])
    wrapped, isolated = sandbox.wrap(command, scratch, read_only=needed, mode=isolation, network=network)
    record["isolation"] = isolated.to_dict()
    child_env = sandbox.clean_environment(scratch, path_first=[python.parent])
    log = Path(f"{out}.script.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as handle:
        handle.write(f"\n===== {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {submission.name}@"
                     f"{submission.revision}: {len(sent)} studies, isolation {isolated.mode}"
                     f"{'' if isolated.network is False else ' (network on)'} =====\n".encode())
        start = handle.tell()
    logger.info("running %s on %d studies (%s already done); time limit %.0f s; isolation: %s",
                submission.script.name, len(sent), len(done), time_limit, isolated.how)
    last_seen = [0.0]

    def harvest(final: bool) -> str | None:
        """Take the usable predictions in OUT; returns a file-level problem (final read only)."""
        try:
            mtime = output_file.stat().st_mtime
        except FileNotFoundError:
            return "the script wrote no output file" if final else None
        if not final and mtime == last_seen[0]:
            return None
        last_seen[0] = mtime
        try:
            found, problems = read_usable_predictions(output_file, sent, format="json", filename="output.json")
        except PredictionFileError as err:
            return str(err).replace("predictions file output.json has problems:", "its output file is unreadable:") \
                if final else None  # mid-run the file may be half-written
        done.update(found)
        for sid in found:
            failed.pop(sid, None)
        if final:
            for kind, items in problems.items():
                if kind in ("unknown", "missing", "malformed"):
                    continue
                for sid in items:
                    failed[sid] = f"the script's output has {PROBLEMS[kind][0]} for this study"
            if problems.get("unknown"):
                logger.warning("the script wrote predictions for %s that were not asked for; ignored",
                               describe_ids(problems["unknown"]))
        save(complete=False)
        return None

    exit_code, timed_out, seconds = _execute(wrapped, cwd=scratch, env=child_env, log=log, time_limit=time_limit,
                                             on_tick=lambda: harvest(False), tick_seconds=harvest_seconds)
    paths = {"scratch": scratch, "images": image_root, "submission": submission.folder, "environment": env.folder}
    tail = _tail(log, start, paths)
    file_problem = harvest(True)
    if exit_code == 125 and isolated.mode == "sandbox" and "rexrank sandbox:" in tail:
        raise sandbox.SandboxUnavailable(f"the sandbox could not be set up: {tail.splitlines()[-1]}")
    if timed_out:
        why = f"the script was stopped at the time limit ({time_limit:g} s) before writing it"
    elif exit_code:
        why = f"the script exited with code {exit_code} before writing it"
    elif file_problem:
        why = file_problem
    else:
        why = "the script wrote no prediction for this study (it skipped it)"
    if (timed_out or exit_code) and tail:
        why += f"; its last output:\n{tail}"
    elif file_problem and why != file_problem:
        why += f" ({file_problem})"
    for sid in sent:
        if sid not in done:
            failed.setdefault(sid, why)
    record["runs"].append({"studies": len(sent), "predicted": sum(1 for s in sent if s in done),
                           "exit_code": exit_code, "timed_out": timed_out, "seconds": round(seconds, 3),
                           "isolation": isolated.mode})
    logger.info("%s finished: exit code %s%s, %d of %d studies predicted, %.1f s", submission.script.name, exit_code,
                " (time limit)" if timed_out else "", sum(1 for s in sent if s in done), len(sent), seconds)
