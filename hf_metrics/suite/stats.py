"""Confidence intervals and paired significance tests for leaderboard values (DESIGN §7.7).

* The leaderboard value of a metric is the mean of its per-study values, or ``1/mean`` for
  the reciprocal metrics (RadCliQ-v1, FineRadScore). Its 95% CI is ReXrank's
  ``mean ± 1.96·SD/√n`` (sample SD), or a seeded percentile bootstrap of the mean on request;
  a reciprocal metric takes the reciprocal of the mean's bounds, so the bounds swap.
* Two systems are compared on the studies both scored: the paired difference of their
  leaderboard values with a CI, a paired bootstrap p-value and an approximate-randomisation
  p-value (RadEval's ``PairedTest``: swap the two systems' outputs per study with
  probability ½, ``p = #(|Δ*| ≥ |Δ|) / trials``, so identical systems give exactly 1).

NaN per-study values (e.g. a FineRadScore study whose LLM reply never parsed) are left out
and counted in ``n_missing``; ``n`` is what the mean is over.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal, Sequence

import numpy as np

ReportedAs = Literal["mean", "reciprocal_mean"]
CIMethod = Literal["normal", "bootstrap"]

Z95 = 1.96  # ReXrank's constant, used as is for the default 95% interval


@dataclass(frozen=True)
class Interval:
    """An estimate with its confidence interval; ``n`` observations behind it."""

    value: float
    low: float
    high: float
    n: int
    method: str
    confidence: float = 0.95
    n_missing: int = 0

    def to_dict(self) -> dict:
        return {k: _jsonable(v) for k, v in asdict(self).items()}


def _jsonable(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else (math.inf if v > 0 else -math.inf)
    return v


def _z(confidence: float) -> float:
    if abs(confidence - 0.95) < 1e-12:
        return Z95
    from scipy.stats import norm

    return float(norm.ppf(0.5 + confidence / 2))


def finite(values: Sequence[float]) -> tuple[np.ndarray, int]:
    """The finite values as float64, and how many were dropped."""
    arr = np.asarray(values, dtype=np.float64)
    keep = np.isfinite(arr)
    return arr[keep], int((~keep).sum())


def report(mean: float, reported_as: ReportedAs) -> float:
    """Leaderboard value from the mean of per-study values."""
    if reported_as == "reciprocal_mean":
        return 1.0 / mean if mean else math.inf
    return float(mean)


def _report_bounds(low: float, high: float, reported_as: ReportedAs) -> tuple[float, float]:
    """Map the mean's CI to the reported value's CI; a reciprocal swaps the bounds.

    If the mean's interval contains 0, the reciprocal's interval is unbounded: (-inf, inf).
    """
    if reported_as != "reciprocal_mean":
        return low, high
    if not (math.isfinite(low) and math.isfinite(high)):
        return math.nan, math.nan
    if low <= 0.0 <= high:
        return -math.inf, math.inf
    return 1.0 / high, 1.0 / low


def bootstrap_means(values: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """Means of ``n_resamples`` resamples (with replacement) of ``values``; seeded."""
    rng = np.random.default_rng(seed)
    n = len(values)
    out = np.empty(n_resamples)
    chunk = max(1, 2_000_000 // max(n, 1))  # bounded memory for big test sets
    for start in range(0, n_resamples, chunk):
        stop = min(n_resamples, start + chunk)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = values[idx].mean(axis=1)
    return out


def mean_interval(values: Sequence[float], *, method: CIMethod = "normal", confidence: float = 0.95,
                  n_resamples: int = 1000, seed: int = 0) -> Interval:
    """CI of the mean of ``values``: ``mean ± z·SD/√n`` (ddof=1), or a percentile bootstrap."""
    arr, dropped = finite(values)
    n = len(arr)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, method, confidence, dropped)
    mean = float(arr.mean())
    if n == 1:
        return Interval(mean, math.nan, math.nan, 1, method, confidence, dropped)
    if method == "normal":
        half = _z(confidence) * float(arr.std(ddof=1)) / math.sqrt(n)
        return Interval(mean, mean - half, mean + half, n, method, confidence, dropped)
    if method == "bootstrap":
        means = bootstrap_means(arr, n_resamples, seed)
        alpha = (1 - confidence) / 2
        low, high = np.quantile(means, [alpha, 1 - alpha])
        return Interval(mean, float(low), float(high), n, f"bootstrap({n_resamples}, seed={seed})",
                        confidence, dropped)
    raise ValueError(f"unknown CI method {method!r}: use 'normal' or 'bootstrap'")


def metric_interval(values: Sequence[float], reported_as: ReportedAs = "mean", **kwargs) -> Interval:
    """The leaderboard value and its CI: the mean's interval, mapped through ``1/x`` if reciprocal."""
    m = mean_interval(values, **kwargs)
    low, high = _report_bounds(m.low, m.high, reported_as)
    return Interval(report(m.value, reported_as) if m.n else math.nan, low, high, m.n, m.method,
                    m.confidence, m.n_missing)


# ---------------------------------------------------------------- paired comparisons


def _paired(a: Sequence[float], b: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"paired values differ in length: {len(x)} vs {len(y)}")
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def _stat(mean_a: np.ndarray | float, mean_b: np.ndarray | float, reported_as: ReportedAs):
    """Difference of leaderboard values A − B from the two means (vectorised)."""
    if reported_as == "reciprocal_mean":
        with np.errstate(divide="ignore", invalid="ignore"):
            return 1.0 / np.asarray(mean_a) - 1.0 / np.asarray(mean_b)
    return np.asarray(mean_a) - np.asarray(mean_b)


def paired_difference(a: Sequence[float], b: Sequence[float], reported_as: ReportedAs = "mean", *,
                      method: CIMethod = "normal", confidence: float = 0.95, n_resamples: int = 1000,
                      seed: int = 0) -> Interval:
    """Leaderboard value of A minus that of B on the same studies, with a CI.

    ``normal``: for a mean metric, ``mean(a−b) ± z·SD(a−b)/√n``; for a reciprocal metric the
    delta method on ``1/mean_a − 1/mean_b`` with the paired covariance. ``bootstrap``: studies
    resampled jointly (seeded), percentile interval.
    """
    x, y = _paired(a, b)
    n = len(x)
    dropped = len(a) - n
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, method, confidence, dropped)
    ma, mb = float(x.mean()), float(y.mean())
    diff = float(_stat(ma, mb, reported_as))
    if n == 1 or not math.isfinite(diff):
        # one study has no spread; a reciprocal of a zero mean is unbounded, and so is the difference
        return Interval(diff, math.nan, math.nan, n, method, confidence, dropped)
    if method == "normal":
        if reported_as == "reciprocal_mean":
            grad = np.array([-1.0 / ma**2, 1.0 / mb**2])
        else:
            grad = np.array([1.0, -1.0])
        cov = np.cov(np.vstack([x, y]), ddof=1)
        half = _z(confidence) * math.sqrt(max(float(grad @ cov @ grad), 0.0) / n)
        return Interval(diff, diff - half, diff + half, n, method, confidence, dropped)
    if method == "bootstrap":
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, n, size=(n_resamples, n))
        stats = _stat(x[idx].mean(axis=1), y[idx].mean(axis=1), reported_as)
        alpha = (1 - confidence) / 2
        low, high = np.quantile(stats, [alpha, 1 - alpha])
        return Interval(diff, float(low), float(high), n, f"bootstrap({n_resamples}, seed={seed})",
                        confidence, dropped)
    raise ValueError(f"unknown CI method {method!r}: use 'normal' or 'bootstrap'")


def test_scale(a: Sequence[float], b: Sequence[float], reported_as: ReportedAs) -> ReportedAs:
    """The scale the p-values are computed on: the reported one, or the mean's when a reciprocal is
    unbounded (a mean of 0). "A and B score the same" is the same hypothesis on both scales."""
    x, y = _paired(a, b)
    if reported_as == "reciprocal_mean" and len(x) and (x.mean() == 0 or y.mean() == 0):
        return "mean"
    return reported_as


# Both tests draw their randomness through these two helpers, in the same order whatever the chunk
# size, so a trial-by-trial loop (tests/test_suite_stats.py) reproduces the vectorised p-values exactly.


def swap_bytes(rng: np.random.Generator, trials: int, n: int) -> np.ndarray:
    """(trials, ceil(n/8)) uint8: bit ``i % 8`` (little-endian) of byte ``i // 8`` says whether
    study ``i`` is swapped in that trial (probability ½ each); one run of 64-bit words per trial."""
    words = -(-n // 64)
    return rng.bit_generator.random_raw((trials, words)).view(np.uint8)[:, :-(-n // 8)]


def swap_mask(row: np.ndarray, n: int) -> np.ndarray:
    """One trial's swaps as booleans, from a row of :func:`swap_bytes`."""
    return np.unpackbits(row, count=n, bitorder="little").astype(bool)


def resample_indices(rng: np.random.Generator, trials: int, n: int) -> np.ndarray:
    """(trials, n) bootstrap indices (uniform, with replacement)."""
    return rng.integers(0, n, size=(trials, n))


def _chunks(total: int, n: int, budget: int = 2_000_000) -> list[tuple[int, int]]:
    size = max(1, budget // max(n, 1))  # bounded memory for big test sets
    return [(start, min(total, start + size)) for start in range(0, total, size)]


def _difference_from_sums(sum_a: np.ndarray | float, sum_b: np.ndarray | float, n: int,
                          reported_as: ReportedAs) -> np.ndarray:
    """A − B of leaderboard values from per-system sums over ``n`` studies. A reciprocal of a zero
    mean is +inf (as :func:`report`); a difference of two infinite values is 0 (both undefined
    alike), so identical systems stay identical."""
    sum_a, sum_b = np.asarray(sum_a, dtype=np.float64), np.asarray(sum_b, dtype=np.float64)
    if reported_as != "reciprocal_mean":
        return (sum_a - sum_b) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        ra = np.where(sum_a == 0, np.inf, n / np.where(sum_a == 0, 1.0, sum_a))
        rb = np.where(sum_b == 0, np.inf, n / np.where(sum_b == 0, 1.0, sum_b))
        diff = ra - rb
    return np.where(np.isnan(diff), 0.0, diff)


def _at_least(values: np.ndarray, threshold: float) -> int:
    """How many ``values`` reach ``threshold``, with a relative tolerance for rounding (sums taken
    in another order must not break exact ties, e.g. of integer FineRadScore severities)."""
    if math.isfinite(threshold):
        threshold -= 1e-12 * max(1.0, threshold)
    return int(np.count_nonzero(values >= threshold))


def paired_bootstrap_pvalue(a: Sequence[float], b: Sequence[float], reported_as: ReportedAs = "mean", *,
                            n_resamples: int = 10000, seed: int = 0) -> float:
    """Two-sided paired bootstrap p-value of H0 "A and B score the same".

    Studies are resampled jointly; the bootstrap distribution of Δ* is centred on the
    observed Δ (Berg-Kirkpatrick et al. 2012's shift), and ``p = #(|Δ* − Δ| ≥ |Δ|) / B``.
    Identical systems give exactly 1. Undefined (NaN) when Δ is infinite (a reciprocal metric
    with a zero mean on one side: no shift centres that), where the randomisation test still holds.
    Vectorised: one gather of the per-study differences per resample (two for a reciprocal metric).
    """
    reported_as = test_scale(a, b, reported_as)
    x, y = _paired(a, b)
    n = len(x)
    if n == 0:
        return math.nan
    observed = float(_difference_from_sums(x.sum(), y.sum(), n, reported_as))
    if not math.isfinite(observed):
        return math.nan
    rng = np.random.default_rng(seed)
    d = x - y
    count = 0
    for start, stop in _chunks(n_resamples, n):
        idx = resample_indices(rng, stop - start, n)
        if reported_as == "reciprocal_mean":
            stats = _difference_from_sums(x[idx].sum(axis=1), y[idx].sum(axis=1), n, reported_as)
        else:
            stats = d[idx].sum(axis=1) / n
        count += _at_least(np.abs(stats - observed), abs(observed))
    return count / n_resamples


def approximate_randomization_pvalue(a: Sequence[float], b: Sequence[float], reported_as: ReportedAs = "mean",
                                     *, n_samples: int = 10000, seed: int = 12345) -> float:
    """Paired approximate-randomisation p-value, as RadEval's ``PairedTest`` computes it.

    Each trial swaps the two systems' per-study values with probability ½ and recomputes the
    corpus-level difference; ``p = #(|Δ*| ≥ |Δ|) / trials`` (no +1 correction, as RadEval).
    Swapping per-study values is exact here because every per-study value depends only on its
    own (prediction, reference) pair. Identical systems give exactly 1.

    Vectorised: a trial only moves ``w·(x − y)`` between the two sums (``w`` its swap bits), and
    ``w·d`` is a sum of per-byte table lookups (the 256 subset sums of each 8 studies), so 10,000
    trials of 10,000 studies take a fraction of a second instead of recomputing the metric per trial.
    """
    reported_as = test_scale(a, b, reported_as)
    x, y = _paired(a, b)
    n = len(x)
    if n == 0:
        return math.nan
    sum_x, sum_y = float(x.sum()), float(y.sum())
    observed = abs(float(_difference_from_sums(sum_x, sum_y, n, reported_as)))
    rng = np.random.default_rng(seed)
    n_bytes = -(-n // 8)
    d = np.zeros(n_bytes * 8)
    d[:n] = x - y
    bits = (np.arange(256)[:, None] >> np.arange(8)) & 1  # (256, 8), little-endian bit order
    table = bits.astype(np.float64) @ d.reshape(n_bytes, 8).T  # (256, n_bytes): Σ of d over the set bits
    columns = np.arange(n_bytes)
    count = 0
    for start, stop in _chunks(n_samples, n_bytes * 8):
        moved = table[swap_bytes(rng, stop - start, n), columns].sum(axis=1)  # w·d per trial
        stats = _difference_from_sums(sum_x - moved, sum_y + moved, n, reported_as)
        count += _at_least(np.abs(stats), observed)
    return count / n_samples


def pearson_matrix(columns: dict[str, Sequence[float]]) -> tuple[list[str], np.ndarray]:
    """Pearson r between every pair of columns, over the rows where both are finite."""
    names = list(columns)
    data = [np.asarray(columns[k], dtype=np.float64) for k in names]
    out = np.full((len(names), len(names)), np.nan)
    for i, u in enumerate(data):
        for j, v in enumerate(data):
            keep = np.isfinite(u) & np.isfinite(v)
            if keep.sum() >= 2 and np.std(u[keep]) > 0 and np.std(v[keep]) > 0:
                out[i, j] = float(np.corrcoef(u[keep], v[keep])[0, 1])
    return names, out
