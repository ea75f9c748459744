"""ReXrank test sets as a `datasets` builder: one config per test set (DESIGN.md §3).

With ``datasets<4`` this folder loads as a script (``load_dataset("hf_datasets/rexrank", "iu_xray")``).
Current ``datasets`` refuses loading scripts, so ``rexrank data build`` instantiates this builder
and writes parquet shards plus a dataset card that plain ``load_dataset(DIR, "iu_xray")`` reads.

Manifest parsing and normalisation live in ``rexrank.datasets.manifests`` (pure Python, shared with
scoring); this file only maps rows to features and reads the images.
"""

from __future__ import annotations

import os
from pathlib import Path

import datasets

from rexrank.citation import REXRANK_CITATION, REXRANK_HOMEPAGE
from rexrank.datasets import manifests, registry
from rexrank.errors import InputError
from rexrank.paths import check_image, resolve_inside

_LICENSE = "Manifests: MIT (rajpurkarlab/ReXrank). Images and reports: each source's own licence and data use agreement."

_VERSION = datasets.Version("1.0.0")
SPLIT_NAMES = {"test": datasets.Split.TEST, "validation": datasets.Split.VALIDATION}


# datasets>=4 has List; datasets<4 (which runs this file as a loading script) has Sequence.
_List = getattr(datasets, "List", None) or datasets.Sequence


def features_for(config: str) -> datasets.Features:
    """The columns of ``config``: the common ones (DESIGN.md §3) plus that test set's extras."""
    text = datasets.Value("string")
    columns = {
        "study_id": text,
        "images": _List(datasets.Image()),
        "image_paths": _List(text),
        "views": _List(text),
        "key_image": datasets.Image(),
        "key_image_path": text,
        "indication": text,
        "comparison": text,
        "age": text,
        "sex": text,
        "findings": text,
        "impression": text,
        "report": text,
    }
    extras = {"subject_id": text, "site": text, "clinical_history": text, "ap_pa": _List(text),
              "race": text, "ethnicity": text}
    columns.update({name: extras[name] for name in registry.get_test_set(config).extra_fields})
    return datasets.Features(columns)


class RexrankConfig(datasets.BuilderConfig):
    """A test set. ``manifest_files`` maps split -> local manifest file (default: the pinned official one;
    when given, only those splits are built);
    ``data_dir`` (the image root) makes ``images``/``key_image`` decode to PIL images."""

    def __init__(self, *args, manifest_files: dict[str, str] | None = None, site_field: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.manifest_files = dict(manifest_files or {})
        self.site_field = site_field  # rexgradient_160k: the metadata field read as ``site``


class Rexrank(datasets.GeneratorBasedBuilder):
    """The ReXrank test sets (one config per entry of ``rexrank.datasets.registry``)."""

    VERSION = _VERSION
    BUILDER_CONFIG_CLASS = RexrankConfig
    BUILDER_CONFIGS = [RexrankConfig(name=t.name, version=_VERSION, description=t.description)
                       for t in registry.TEST_SETS.values()]
    DEFAULT_CONFIG_NAME = "iu_xray"

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(description=self.config.description, features=features_for(self.config.name),
                                    homepage=REXRANK_HOMEPAGE, license=_LICENSE, citation=REXRANK_CITATION)

    def _split_generators(self, dl_manager):
        config = self.config.name
        unknown = sorted(set(self.config.manifest_files) - set(registry.get_test_set(config).splits))
        if unknown:
            raise InputError(f"test set {config!r} has no split {unknown[0]!r}; it has: {', '.join(registry.get_test_set(config).splits)}")
        splits = list(self.config.manifest_files) or list(registry.get_test_set(config).splits)
        image_root = self.config.data_dir
        if image_root is not None and not Path(image_root).is_dir():
            why = "is a file, not a folder" if Path(image_root).exists() else "does not exist"
            raise InputError(f"the image root (--data-dir) {image_root!r} {why}: pass the folder the manifest's "
                             "image paths are relative to")
        # Manifests are loaded (fetched, checked, parsed) here, before any split is written, so a
        # bad manifest fails fast with our own error rather than half-way through a build.
        loaded = {s: manifests.load_manifest(config, s, self.config.manifest_files.get(s),
                                             site_field=self.config.site_field) for s in splits}
        self.manifests_used = loaded  # provenance for the export's card
        return [datasets.SplitGenerator(name=SPLIT_NAMES[s], gen_kwargs={
            "studies": loaded[s].studies, "image_root": image_root}) for s in splits]

    def _generate_examples(self, studies: list[dict], image_root: str | None):
        for row in studies:
            example = {name: row[name] for name in features_for(self.config.name) if name in row}
            example["key_image_path"] = row["key_image"]
            example["key_image"] = None
            example["images"] = None
            if image_root is not None:
                example["images"] = [read_image(image_root, path, row["study_id"], "image_path")
                                     for path in row["image_paths"]]
                if row["key_image"] is not None:
                    example["key_image"] = read_image(image_root, row["key_image"], row["study_id"], "key_image_path")
            yield row["study_id"], example


def read_image(root: str | os.PathLike, relpath: str, study_id: str, field: str = "image_path") -> dict:
    """The image file's bytes (so parquet shards carry them), only if the path stays inside the
    image root after following symlinks and the file decodes as an image (a manifest must not
    smuggle ``/etc/passwd`` into a dataset pushed to the Hub). Never None: a bad path is an error
    naming the study, the field and the path relative to --data-dir."""
    what = f"study {study_id!r} {field}"
    path = resolve_inside(root, relpath, what=what, root_name="the image root (--data-dir)")
    return {"path": relpath, "bytes": check_image(path, what=what, shown_path=relpath)}
