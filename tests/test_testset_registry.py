"""The test-set registry agrees with the pinned assets and with every reader of it."""

from __future__ import annotations

import pytest

from rexrank import assets
from rexrank.datasets import registry
from rexrank.errors import InputError


@pytest.mark.parametrize("name", registry.CONFIGS)
def test_every_test_set_has_its_published_tables_and_pinned_manifests(name):
    test_set = registry.TEST_SETS[name]
    for track in registry.TRACK_NAMES:  # the leaderboard seeds one published table per test set x track
        if test_set.published_suffix is None:  # ReXGradient-160K: ReXrank publishes no table
            assert registry.published_stem(name, track) is None and test_set.hub_dataset
        else:
            assert assets.get_asset(f"published/{registry.published_stem(name, track)}")
    for split in test_set.splits:
        if test_set.pinned_manifest:
            assert assets.get_asset(f"manifest/{name}/{split}").extracted_sha256
        else:
            with pytest.raises(Exception):
                assets.get_asset(f"manifest/{name}/{split}")


def test_the_cli_and_the_builder_offer_exactly_the_registry():
    import argparse

    from rexrank.datasets.rexrank.rexrank import Rexrank
    from rexrank.metrics.cli import score
    from rexrank.space.cli import generate

    assert [c.name for c in Rexrank.BUILDER_CONFIGS] == list(registry.CONFIGS)
    for module in (score, generate):
        parser = argparse.ArgumentParser()
        module.add_arguments(parser)
        dataset = next(a for a in parser._actions if a.dest == "dataset")
        assert tuple(dataset.choices) == registry.CONFIGS


def test_unknown_names_are_refused_with_the_known_ones():
    with pytest.raises(InputError, match="choose one of: mimic_cxr, iu_xray, chexpert_plus, rexgradient"):
        registry.get_test_set("mimic")
    with pytest.raises(InputError, match="findings, findings_impression"):
        registry.get_track("impression")


@pytest.mark.parametrize("name", ["iu_xray"])
def test_normalised_rows_have_the_common_fields_then_the_test_sets_extras(name):
    from rexrank.datasets.manifests import COMMON_FIELDS, load_manifest

    for study in load_manifest(name, "test").studies:
        assert tuple(study) == COMMON_FIELDS + registry.TEST_SETS[name].extra_fields
