"""Build a ReXrank test set into parquet shards + a dataset card, and push it to the Hub.

Current ``datasets`` refuses loading scripts, so the builder (``hf_datasets/rexrank/rexrank.py``)
is run here and its output written as ``DIR/<config>/<split>-00000-of-0000N.parquet`` next to a
``README.md`` whose YAML ``configs:`` block maps each config and split to its shards. Then
``datasets.load_dataset(DIR, "iu_xray", split="test")`` (or the pushed Hub repo) just works.
Building several configs into one DIR merges their entries in the card.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Mapping

from rexrank.datasets import manifests, registry
from rexrank.errors import InputError, RexrankError
from rexrank.datasets.benchmark import EVAL_YAML
from rexrank.hub import hub_token  # noqa: F401  (the CLI checks the token before a build)

logger = logging.getLogger(__name__)

CARD_TEMPLATE = Path(__file__).parent / "rexrank" / "README.md"
# Images of these sources need credentialed access: never push them to a public repo.
_SHARD = re.compile(r"^(?P<split>[a-z]+)-(?P<i>\d{5})-of-(?P<n>\d{5})\.parquet$")


def build(config: str, out_dir: str | os.PathLike, *, manifest_files: Mapping[str, str | None] | None = None,
          data_dir: str | os.PathLike | None = None, max_shard_size: str | int = "500MB",
          site_field: str | None = None) -> dict[str, int]:
    """Build ``config`` into ``out_dir``; returns ``{split: number of studies}``.

    ``manifest_files`` maps each split to build to a local manifest (None: the pinned official
    one); by default every split of the config is built from the pinned manifests.
    ``data_dir`` is the image root: with it the images are embedded in the shards.
    """
    from rexrank.datasets.rexrank.rexrank import Rexrank

    manifests.check_config(config, "test")
    splits = dict(manifest_files) if manifest_files else {s: None for s in registry.get_test_set(config).splits}
    for split in splits:
        manifests.check_config(config, split)
    out = Path(out_dir)
    with tempfile.TemporaryDirectory(prefix="rexrank-build-") as tmp:
        builder = Rexrank(config_name=config, cache_dir=str(Path(tmp) / "cache"),
                          data_dir=str(data_dir) if data_dir is not None else None,
                          manifest_files={s: (str(p) if p is not None else None) for s, p in splits.items()},
                          site_field=site_field)
        prepared = Path(tmp) / "prepared"
        try:
            builder.download_and_prepare(str(prepared), file_format="parquet", max_shard_size=max_shard_size)
        except Exception as err:  # datasets wraps errors raised while generating; surface ours
            raise _own_error(err) or err
        counts = {name: info.num_examples for name, info in builder.info.splits.items()}
        for split in counts:
            _move_shards(prepared, builder.dataset_name, split, out / config)
        info = builder.info
    record_build(out, config, {split: {
        "studies": counts[split], "manifest": m.source, "manifest_sha256": m.sha256,
        "matches_pinned": m.matches_pinned, "images": data_dir is not None,
    } for split, m in builder.manifests_used.items()})
    write_card(out, config, info)
    write_eval_yaml(out)
    logger.info("built %s into %s: %s", config, out, ", ".join(f"{s} {n} studies" for s, n in counts.items()))
    return counts


def _own_error(err: BaseException) -> RexrankError | None:
    """The project's own error inside ``err``'s cause chain (e.g. a missing image), if any."""
    while err is not None:
        if isinstance(err, RexrankError):
            return err
        err = err.__cause__ or err.__context__
    return None


def _move_shards(prepared: Path, dataset_name: str, split: str, target: Path) -> None:
    """``<name>-<split>[-i-of-n].parquet`` -> ``target/<split>-0000i-of-0000n.parquet`` (old shards replaced)."""
    shards = sorted(prepared.glob(f"{dataset_name}-{split}.parquet")) or sorted(
        prepared.glob(f"{dataset_name}-{split}-*-of-*.parquet"))
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob(f"{split}-*-of-*.parquet"):
        old.unlink()
    for i, shard in enumerate(shards):
        shutil.move(str(shard), target / f"{split}-{i:05d}-of-{len(shards):05d}.parquet")


# --------------------------------------------------------------------------- provenance

BUILD_RECORD = "rexrank_build.json"


def read_builds(out: Path) -> dict[str, dict[str, dict]]:
    """``{config: {split: {studies, manifest, manifest_sha256, matches_pinned, images}}}`` of ``out``."""
    path = out / BUILD_RECORD
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def record_build(out: Path, config: str, splits: dict[str, dict]) -> None:
    builds = read_builds(out)
    builds.setdefault(config, {}).update(splits)
    for name in list(builds):  # forget what no longer has shards
        on_disk = shard_splits(out / name) if (out / name).is_dir() else []
        builds[name] = {s: v for s, v in builds[name].items() if s in on_disk}
        if not builds[name]:
            del builds[name]
    (out / BUILD_RECORD).write_text(json.dumps(builds, indent=2, sort_keys=True), encoding="utf-8")


def provenance_section(builds: dict[str, dict[str, dict]]) -> str:
    lines = ["", "## This export", "",
             "Built with `rexrank data build`; the manifest of each split and whether images are embedded:", "",
             "| config | split | studies | manifest | sha256 | pinned official | images |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for config in sorted(builds, key=_config_order):
        for split, b in sorted(builds[config].items()):
            pinned = {True: "yes", False: "no", None: "none exists"}[b["matches_pinned"]]
            lines.append(f"| `{config}` | {split} | {b['studies']:,} | `{b['manifest']}` | `{b['manifest_sha256'][:12]}` "
                         f"| {pinned} | {'embedded' if b['images'] else 'paths only'} |")
    return "\n".join(lines) + "\n"


def refuse_public_images(configs_with_images: list[str], private: bool) -> None:
    """Images of credentialed sources never go to a public repository."""
    credentialed = [c for c in configs_with_images if registry.get_test_set(c).credentialed_images]
    if credentialed and not private:
        raise InputError(f"{', '.join(credentialed)} images need credentialed access and would be embedded in the "
                         "shards: push them only to a private repo (--private), or build without --data-dir")


# --------------------------------------------------------------------------- dataset card

def split_card(text: str) -> tuple[dict, str]:
    """(YAML header as a dict, markdown body) of a dataset card."""
    import yaml

    match = re.match(r"^---\n(.*?)\n---\n?(.*)$", text, flags=re.S)
    if not match:
        return {}, text
    return yaml.safe_load(match.group(1)) or {}, match.group(2)


def join_card(header: dict, body: str) -> str:
    import yaml

    return "---\n" + yaml.safe_dump(header, sort_keys=False, allow_unicode=True, width=120) + "---\n" + body


def shard_splits(config_dir: Path) -> list[str]:
    """The splits that have shards in ``config_dir`` (test first)."""
    found = {m.group("split") for p in config_dir.glob("*.parquet") if (m := _SHARD.match(p.name))}
    return sorted(found, key=lambda s: (s != "test", s))


def write_card(out: Path, config: str, info) -> None:
    """Write/merge ``out/README.md``: our card's body; ``configs`` and ``dataset_info`` for every
    config that has shards in ``out`` (entries of other configs already there are kept)."""
    path = out / "README.md"
    template_header, body = split_card(CARD_TEMPLATE.read_text(encoding="utf-8"))
    existing_header, _ = split_card(path.read_text(encoding="utf-8")) if path.is_file() else ({}, "")
    header = {k: v for k, v in template_header.items() if k not in ("configs", "dataset_info")}

    configs = {c["config_name"]: c for c in existing_header.get("configs", []) if isinstance(c, dict)}
    for name in registry.CONFIGS:
        splits = shard_splits(out / name) if (out / name).is_dir() else []
        if splits:
            configs[name] = {"config_name": name, "data_files": [
                {"split": s, "path": f"{name}/{s}-*.parquet"} for s in splits]}
        else:
            configs.pop(name, None)
    header["configs"] = [configs[c] for c in sorted(configs, key=_config_order)]

    infos = {i["config_name"]: i for i in existing_header.get("dataset_info", []) if isinstance(i, dict)}
    built = info._to_yaml_dict()
    previous = {s["name"]: s for s in infos.get(config, {}).get("splits", [])}
    previous.update({s["name"]: s for s in built.get("splits", [])})
    on_disk = shard_splits(out / config)
    infos[config] = {"config_name": config, "features": built["features"],
                     "splits": [previous[s] for s in on_disk if s in previous]}
    header["dataset_info"] = [infos[c] for c in sorted(infos, key=_config_order) if c in configs]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(join_card(header, body.rstrip("\n") + "\n" + provenance_section(read_builds(out))), encoding="utf-8")


def write_eval_yaml(out: Path) -> Path:
    """``out/eval.yaml``: the benchmark's tasks for every config built into ``out`` (see ``benchmark``)."""
    from rexrank.datasets import benchmark

    path = out / benchmark.EVAL_YAML
    path.write_text(benchmark.eval_yaml(c for c in registry.CONFIGS if (out / c).is_dir() and shard_splits(out / c)),
                    encoding="utf-8")
    return path


def _config_order(name: str) -> tuple[int, str]:
    return (registry.CONFIGS.index(name) if name in registry.CONFIGS else len(registry.CONFIGS), name)


# --------------------------------------------------------------------------- Hub

def push_eval_yaml(api, out: Path, repo_id: str) -> bool:
    """``eval.yaml`` in a commit of its own: the Hub validates it at push time and may refuse an
    evaluation framework it has not registered yet, which must not undo the data push. A refusal is
    a warning naming what to do."""
    from huggingface_hub.errors import HfHubHTTPError

    if not (out / EVAL_YAML).is_file():
        return False
    try:
        api.upload_file(path_or_fileobj=str(out / EVAL_YAML), path_in_repo=EVAL_YAML, repo_id=repo_id,
                        repo_type="dataset", commit_message="Declare the ReXrank benchmark tasks (eval.yaml)")
    except HfHubHTTPError as err:
        logger.warning("the data is pushed, but the Hub refused eval.yaml (%s). The benchmark's evaluation framework "
                       "must be on the Hub's list and the dataset on its benchmark allow-list: ask Hugging Face, then "
                       "push again", getattr(err, "server_message", None) or err)
        return False
    return True


def push(out_dir: str | os.PathLike, repo_id: str, *, private: bool = False, commit_message: str | None = None,
         endpoint: str | None = None) -> str:
    """Upload ``out_dir`` to the dataset repo ``repo_id``; the token comes from ``HF_TOKEN`` only.
    ``endpoint`` defaults to ``HF_ENDPOINT`` / the public Hub."""
    from huggingface_hub import HfApi

    token = hub_token()
    builds = read_builds(Path(out_dir))
    refuse_public_images([c for c, splits in builds.items() if any(b["images"] for b in splits.values())], private)
    api = HfApi(endpoint=endpoint, token=token)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    commit = api.upload_folder(folder_path=str(out_dir), repo_id=repo_id, repo_type="dataset",
                               ignore_patterns=[EVAL_YAML],
                               commit_message=commit_message or "ReXrank test sets: parquet shards and dataset card")
    logger.info("pushed %s to the Hub dataset %s (%s)", out_dir, repo_id, "private" if private else "public")
    push_eval_yaml(api, Path(out_dir), repo_id)
    return str(getattr(commit, "commit_url", commit))
