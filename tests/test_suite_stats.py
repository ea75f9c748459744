"""Known answers for the suite's statistics (rexrank.metrics.suite.stats), computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rexrank.metrics.suite import stats

# [1, 2, 3, 4, 5]: mean 3, sample SD sqrt(2.5), SE sqrt(0.5); half-width 1.96 * 0.70710678 = 1.38592929
HALF = 1.96 * math.sqrt(0.5)


def test_normal_ci_is_rexranks_mean_plus_minus_1_96_se():
    iv = stats.mean_interval([1, 2, 3, 4, 5])
    assert iv.value == 3.0 and iv.n == 5 and iv.method == "normal"
    assert iv.low == pytest.approx(3 - HALF, abs=1e-12) and iv.high == pytest.approx(3 + HALF, abs=1e-12)
    assert iv.low == pytest.approx(1.6140707088743669, abs=1e-12)


def test_reciprocal_metric_takes_reciprocal_of_bounds_which_swap():
    iv = stats.metric_interval([1, 2, 3, 4, 5], "reciprocal_mean")
    assert iv.value == pytest.approx(1 / 3)
    assert iv.low == pytest.approx(1 / (3 + HALF)) and iv.high == pytest.approx(1 / (3 - HALF))
    assert iv.low == pytest.approx(0.2280018517, abs=1e-9) and iv.high == pytest.approx(0.6195515441, abs=1e-9)


def test_reciprocal_of_interval_containing_zero_is_unbounded():
    iv = stats.metric_interval([-1.0, 1.0, -2.0, 2.5], "reciprocal_mean")
    assert (iv.low, iv.high) == (-math.inf, math.inf)


def test_nan_values_are_left_out_and_counted():
    iv = stats.mean_interval([1, 2, float("nan"), 3, 4, 5])
    assert iv.n == 5 and iv.n_missing == 1 and iv.value == 3.0


def test_single_value_has_no_interval_and_empty_has_no_value():
    one = stats.mean_interval([0.7])
    assert one.value == 0.7 and math.isnan(one.low) and math.isnan(one.high)
    assert math.isnan(stats.mean_interval([]).value)


def test_bootstrap_is_seeded_percentile_and_close_to_normal_for_large_n():
    rng = np.random.default_rng(1)
    values = rng.random(400)
    a = stats.mean_interval(values, method="bootstrap", n_resamples=2000, seed=7)
    b = stats.mean_interval(values, method="bootstrap", n_resamples=2000, seed=7)
    c = stats.mean_interval(values, method="bootstrap", n_resamples=2000, seed=8)
    assert (a.low, a.high) == (b.low, b.high) and (a.low, a.high) != (c.low, c.high)
    normal = stats.mean_interval(values)
    assert a.low == pytest.approx(normal.low, abs=0.004) and a.high == pytest.approx(normal.high, abs=0.004)
    # a constant sample has a zero-width percentile interval
    const = stats.mean_interval([0.5] * 10, method="bootstrap", n_resamples=100)
    assert const.low == const.high == 0.5


def test_bootstrap_bounds_of_a_reciprocal_metric_swap_too():
    values = np.random.default_rng(2).uniform(0.5, 1.5, 300)
    m = stats.mean_interval(values, method="bootstrap", seed=3)
    r = stats.metric_interval(values, "reciprocal_mean", method="bootstrap", seed=3)
    assert r.low == pytest.approx(1 / m.high) and r.high == pytest.approx(1 / m.low)


def test_paired_difference_known_answer():
    # differences [1, 0, 2, 0]: mean 0.75, sample SD sqrt(11/12), SE sqrt(11/12)/2
    iv = stats.paired_difference([1, 2, 3, 4], [0, 2, 1, 4])
    half = 1.96 * math.sqrt(11 / 12) / 2
    assert iv.value == pytest.approx(0.75)
    assert iv.low == pytest.approx(0.75 - half) and iv.high == pytest.approx(0.75 + half)


def test_paired_difference_of_reciprocal_metric_uses_reported_values():
    rng = np.random.default_rng(4)
    a = rng.uniform(0.5, 1.5, 2000)
    b = a + rng.normal(0.1, 0.05, 2000)
    delta = stats.paired_difference(a, b, "reciprocal_mean")
    assert delta.value == pytest.approx(1 / a.mean() - 1 / b.mean())
    boot = stats.paired_difference(a, b, "reciprocal_mean", method="bootstrap", n_resamples=2000, seed=0)
    assert boot.value == delta.value
    # delta method and bootstrap agree on the width for a smooth statistic and large n
    assert (delta.high - delta.low) == pytest.approx(boot.high - boot.low, rel=0.1)


def test_approximate_randomization_known_answer():
    # nonzero differences 1 and 2: of the 4 sign patterns, |Δ*| >= |Δ| = 3/4 for 2 -> p = 0.5 exactly
    p = stats.approximate_randomization_pvalue([1, 2, 3, 4], [0, 2, 1, 4], n_samples=40000, seed=1)
    assert p == pytest.approx(0.5, abs=0.01)


def test_pvalues_are_one_for_identical_systems():
    values = np.random.default_rng(5).random(200)
    assert stats.approximate_randomization_pvalue(values, values.copy()) == 1.0
    assert stats.paired_bootstrap_pvalue(values, values.copy()) == 1.0
    assert stats.approximate_randomization_pvalue(values, values.copy(), "reciprocal_mean") == 1.0


def test_pvalues_are_tiny_for_clearly_different_systems():
    rng = np.random.default_rng(6)
    a = rng.uniform(0.6, 0.9, 300)
    b = a - rng.uniform(0.1, 0.3, 300)
    assert stats.approximate_randomization_pvalue(a, b, n_samples=5000) < 1e-3
    assert stats.paired_bootstrap_pvalue(a, b, n_resamples=5000) < 1e-3
    assert stats.approximate_randomization_pvalue(a, b, "reciprocal_mean", n_samples=5000) < 1e-3


def test_pvalues_for_a_mild_difference_are_in_between_and_seeded():
    rng = np.random.default_rng(7)
    a = rng.normal(0.5, 0.2, 100)
    b = a + rng.normal(0.02, 0.2, 100)
    p1 = stats.approximate_randomization_pvalue(a, b, seed=3)
    assert p1 == stats.approximate_randomization_pvalue(a, b, seed=3)
    assert 0.01 < p1 < 0.99
    pb = stats.paired_bootstrap_pvalue(a, b, seed=3)
    assert abs(pb - p1) < 0.1  # two tests of the same hypothesis agree roughly


def test_pearson_matrix_known_answer():
    names, m = stats.pearson_matrix({"x": [1, 2, 3, 4], "y": [2, 4, 6, 8], "z": [4, 3, 2, 1], "c": [1, 1, 1, 1]})
    assert names == ["x", "y", "z", "c"]
    assert m[0, 1] == pytest.approx(1.0) and m[0, 2] == pytest.approx(-1.0)
    assert math.isnan(m[0, 3])  # undefined for a constant column, never a fake 0


# ---- the vectorised tests equal trial-by-trial loops (RadEval's way: recompute the corpus metric per trial)


def _corpus_difference(xa, yb, reported_as):
    """Leaderboard value of A minus B from the per-study lists, as a corpus metric computes it."""
    ra, rb = stats.report(float(np.mean(xa)), reported_as), stats.report(float(np.mean(yb)), reported_as)
    if math.isinf(ra) and math.isinf(rb):
        return 0.0  # both undefined alike
    return ra - rb


def _reaches(value, threshold):
    return value >= (threshold - 1e-12 * max(1.0, threshold) if math.isfinite(threshold) else threshold)


def _loop_randomization(a, b, reported_as, n_samples, seed):
    x, y = np.asarray(a, float), np.asarray(b, float)
    observed = abs(_corpus_difference(x, y, reported_as))
    rng = np.random.default_rng(seed)
    count = 0
    for _ in range(n_samples):
        swap = stats.swap_mask(stats.swap_bytes(rng, 1, len(x))[0], len(x))
        count += _reaches(abs(_corpus_difference(np.where(swap, y, x), np.where(swap, x, y), reported_as)), observed)
    return count / n_samples


def _loop_bootstrap(a, b, reported_as, n_resamples, seed):
    x, y = np.asarray(a, float), np.asarray(b, float)
    observed = _corpus_difference(x, y, reported_as)
    rng = np.random.default_rng(seed)
    count = 0
    for _ in range(n_resamples):
        idx = stats.resample_indices(rng, 1, len(x))[0]
        count += _reaches(abs(_corpus_difference(x[idx], y[idx], reported_as) - observed), abs(observed))
    return count / n_resamples


def _systems():
    rng = np.random.default_rng(11)
    real = rng.uniform(0, 1, 37)
    radcliq = rng.normal(0.2, 0.8, 53)  # RadCliQ-v1 per study: signed, reported as 1/mean
    severities = rng.integers(0, 5, 41).astype(float)  # FineRadScore: max line severity 0..4, 1/mean
    return [
        ("mean, real values", real, real + rng.normal(0.02, 0.1, 37), "mean"),
        ("mean, many exact ties", np.round(real, 1), np.round(real[::-1], 1), "mean"),
        ("RadCliQ-v1 reciprocal", radcliq, radcliq + rng.normal(0.05, 0.3, 53), "reciprocal_mean"),
        ("FineRadScore reciprocal", severities, np.clip(severities + rng.integers(-1, 2, 41), 0, 4), "reciprocal_mean"),
        ("FineRadScore, A has no error at all", np.zeros(9), rng.integers(0, 2, 9).astype(float), "reciprocal_mean"),
    ]


@pytest.mark.parametrize("case", _systems(), ids=lambda c: c[0])
def test_vectorised_pvalues_equal_the_loop_versions(case):
    _, a, b, reported_as = case
    scale = stats.test_scale(a, b, reported_as)  # a reciprocal of a zero mean is tested on the mean's scale
    assert (scale != reported_as) == (case[0] == "FineRadScore, A has no error at all")
    for seed in (0, 3):
        assert stats.approximate_randomization_pvalue(a, b, reported_as, n_samples=700, seed=seed) == \
            _loop_randomization(a, b, scale, 700, seed)
        assert stats.paired_bootstrap_pvalue(a, b, reported_as, n_resamples=700, seed=seed) == \
            _loop_bootstrap(a, b, scale, 700, seed)


def test_chunking_does_not_change_the_randomness(monkeypatch):
    a, b = np.random.default_rng(2).random((2, 300))
    whole = stats.approximate_randomization_pvalue(a, b, n_samples=999, seed=4), \
        stats.paired_bootstrap_pvalue(a, b, n_resamples=999, seed=4)
    real_chunks = stats._chunks
    monkeypatch.setattr(stats, "_chunks", lambda total, n, budget=0: real_chunks(total, n, budget=7 * n))
    assert (stats.approximate_randomization_pvalue(a, b, n_samples=999, seed=4),
            stats.paired_bootstrap_pvalue(a, b, n_resamples=999, seed=4)) == whole


def test_fineradscore_with_no_error_anywhere_on_both_sides_is_no_difference():
    zeros = np.zeros(20)
    assert stats.approximate_randomization_pvalue(zeros, zeros.copy(), "reciprocal_mean") == 1.0
    assert stats.paired_bootstrap_pvalue(zeros, zeros.copy(), "reciprocal_mean") == 1.0
