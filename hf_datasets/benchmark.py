"""The ReXrank test sets as a Hub benchmark: the dataset repo's ``eval.yaml`` and its task ids.

The Hub's evaluation results (hub-docs ``eval-results.md``): a benchmark dataset declares tasks in
``eval.yaml`` (``name``, ``description``, ``evaluation_framework``, ``tasks[]`` with ``id`` and
optional ``config``/``split``), each task is one leaderboard, and a model's
``.eval_results/*.yaml`` entry gives **one value** for one ``(dataset id, task_id)``. So a task
here is one test set × track × metric (``iu_xray_test_findings_radcliq``): one task per test
set and track would leave room for a single metric. Every value is reported higher-is-better
(RadCliQ-v1 and FineRadScore as 1/mean). The first task is the Hub's default leaderboard, so
each (test set, track) lists 1/RadCliQ-v1 first.

``evaluation_framework`` is a list the Hub maintains (huggingface.js ``packages/tasks/src/eval.ts``);
``rexrank`` is not on it yet, and listing a benchmark needs the Hub's allow-list (beta): both are
requests to Hugging Face, not something a push can do. Until then the file is valid but shows no
leaderboard.
"""

from __future__ import annotations

from typing import Iterable

from rexrank.datasets.registry import CONFIGS, TRACK_NAMES, get_test_set

EVALUATION_FRAMEWORK = "rexrank"  # not yet in huggingface.js EVALUATION_FRAMEWORKS (see the module docstring)
EVAL_YAML = "eval.yaml"
SPLIT = "test"  # the leaderboards are on the test splits only
HEADLINE = "radcliq"


def task_id(config: str, split: str, track: str, metric: str) -> str:
    """The task of one test set, split, track and metric: the ``.eval_results`` export uses the same id."""
    return f"{config}_{split}_{track}_{metric}"


def leaderboard_metrics() -> tuple[str, ...]:
    """The ReXrank eight, 1/RadCliQ-v1 first."""
    from rexrank.metrics.registry import REXRANK_EIGHT

    return (HEADLINE,) + tuple(m for m in REXRANK_EIGHT if m != HEADLINE)


def tasks(configs: Iterable[str]) -> list[dict]:
    """``tasks[]`` for the configs that have a test split in the dataset repo, in registry order."""
    present = set(configs)
    return [{"id": task_id(c, SPLIT, track, metric), "config": c, "split": SPLIT}
            for c in CONFIGS if c in present and SPLIT in get_test_set(c).splits
            for track in TRACK_NAMES for metric in leaderboard_metrics()]


def eval_yaml(configs: Iterable[str]) -> str:
    """The dataset repo's ``eval.yaml`` text."""
    import yaml

    listed = tasks(configs)
    names = ", ".join(get_test_set(c).display for c in CONFIGS if any(t["config"] == c for t in listed))
    spec = {"name": "ReXrank",
            "description": ("ReXrank: chest X-ray radiology report generation, scored with the ReXrank metrics "
                            f"(BLEU-2, BERTScore, SembScore, RadGraph F1, 1/RadCliQ-v1, RaTEScore, GREEN, "
                            f"1/FineRadScore; higher is better) on the {names} test sets, findings and "
                            "findings + impression tracks. One task per test set, track and metric."),
            "evaluation_framework": EVALUATION_FRAMEWORK,
            "tasks": listed}
    return ("# The Hub's benchmark declaration (https://huggingface.co/docs/hub/eval-results), written by rexrank.\n"
            f"# evaluation_framework '{EVALUATION_FRAMEWORK}' still has to be added to the Hub's list and the dataset\n"
            "# to its benchmark allow-list before the Hub shows these leaderboards.\n"
            + yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=110))
