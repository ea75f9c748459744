"""Figures for papers: PNG + SVG, matplotlib's Agg backend, readable in black and white.

Systems are told apart by hatch patterns and markers as well as colour; heatmaps carry their
numbers in every cell. Each function writes ``<stem>.png`` and ``<stem>.svg`` and returns both paths.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from rexrank.metrics.suite import analysis
from rexrank.metrics.reporting.values import as_float, format_number, from_json

HATCHES = ("", "//", "..", "xx", "\\\\", "oo", "--", "++", "**", "||")
GREYS = ("0.25", "0.55", "0.8", "0.4", "0.65", "0.9", "0.15", "0.5", "0.7", "0.35")


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "svg.hashsalt": "rexrank", "hatch.linewidth": 0.8})
    return plt


def _save(fig, stem: Path) -> list[Path]:
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    fig.savefig(paths[0], dpi=200, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight", metadata={"Date": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    return paths


def _name(result: Mapping[str, Any], i: int) -> str:
    return result.get("system") or f"system {i + 1}"


def _mark_nonfinite(ax, xs: Sequence[float], values: Sequence[float]) -> None:
    """No bar can show ∞ or an undefined value: write ∞ / — where the bar would be, never a silent 0."""
    for x, v in zip(xs, values):
        if not math.isfinite(v):
            ax.annotate(format_number(v), (x, 0), xytext=(0, 3), textcoords="offset points", ha="center",
                        va="bottom", fontsize=10, fontweight="bold")


def _bars(ax, groups: Sequence[str], series: Sequence[tuple[str, list[float], list[tuple[float, float]]]]) -> None:
    """Grouped bars with CI whiskers; one hatch + grey per series."""
    width = 0.8 / max(len(series), 1)
    for k, (label, values, cis) in enumerate(series):
        xs = [g + (k - (len(series) - 1) / 2) * width for g in range(len(groups))]
        lows = [v - lo if math.isfinite(lo) and math.isfinite(v) else 0 for v, (lo, _) in zip(values, cis)]
        highs = [hi - v if math.isfinite(hi) and math.isfinite(v) else 0 for v, (_, hi) in zip(values, cis)]
        ax.bar(xs, [v if math.isfinite(v) else 0 for v in values], width, label=label,
               color=GREYS[k % len(GREYS)], edgecolor="black", hatch=HATCHES[k % len(HATCHES)],
               yerr=[lows, highs], capsize=3, error_kw={"elinewidth": 1, "ecolor": "black"})
        _mark_nonfinite(ax, xs, values)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups)


def metric_bars(results: Sequence[Mapping[str, Any]], stem: Path, title: str | None = None) -> list[Path]:
    """One panel per metric, one bar per system, whiskers = 95% CI."""
    plt = _plt()
    metrics = [m for m in results[0]["metrics"] if all(m in r["metrics"] for r in results)]
    cols = min(4, len(metrics))
    rows = math.ceil(len(metrics) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols + 0.4 * len(results), 2.6 * rows), squeeze=False)
    for ax, metric in zip(axes.flat, metrics):
        for k, r in enumerate(results):
            e = r["metrics"][metric]
            v = as_float(e["value"])
            lo, hi = (as_float(x) for x in e["ci"])
            finite = math.isfinite(v)
            err = [[v - lo if finite and math.isfinite(lo) else 0], [hi - v if finite and math.isfinite(hi) else 0]]
            ax.bar([k], [v if math.isfinite(v) else 0], 0.7, color=GREYS[k % len(GREYS)], edgecolor="black",
                   hatch=HATCHES[k % len(HATCHES)], yerr=err, capsize=3, label=_name(r, k))
            _mark_nonfinite(ax, [k], [v])
        ax.set_title(results[0]["metrics"][metric].get("display", metric))
        ax.set_xticks(range(len(results)))
        ax.set_xticklabels([_name(r, k) for k, r in enumerate(results)], rotation=30, ha="right")
        ax.grid(axis="y", linestyle=":", linewidth=0.6)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    fig.suptitle(title or _title(results[0]))
    fig.tight_layout()
    return _save(fig, stem)


def _title(result: Mapping[str, Any]) -> str:
    d = result.get("dataset", {})
    return f"{d.get('config', '')} {d.get('split', '')}, {d.get('track', '')} track (n = {d.get('n_studies', '?')}); 95% CI"


def normal_abnormal(result: Mapping[str, Any], stem: Path) -> list[Path] | None:
    """Each metric on normal vs abnormal studies (hatched vs plain), CI whiskers."""
    na = (result.get("analyses") or {}).get("normal_abnormal")
    if not na or len(na["groups"]) < 2:
        return None
    plt = _plt()
    metrics = [m for m in result["metrics"] if all(m in g for g in na["groups"].values())]
    fig, ax = plt.subplots(figsize=(1.1 * len(metrics) + 2, 3))
    series = []
    for group in ("normal", "abnormal"):
        g = na["groups"][group]
        series.append((f"{group} (n = {g[metrics[0]]['n']})", [as_float(g[m]["value"]) for m in metrics],
                       [tuple(as_float(x) for x in g[m]["ci"]) for m in metrics]))
    _bars(ax, [result["metrics"][m].get("display", m) for m in metrics], series)
    ax.set_title(f"{result.get('system') or ''} normal vs abnormal ({na['source']})".strip())
    ax.legend(frameon=False)
    ax.grid(axis="y", linestyle=":", linewidth=0.6)
    plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
    fig.tight_layout()
    return _save(fig, stem)


def correlation_heatmap(corr: Mapping[str, Any], stem: Path, displays: Mapping[str, str] | None = None) -> list[Path]:
    """Annotated Pearson r matrix (a diverging map, and the number in every cell)."""
    plt = _plt()
    names = [(displays or {}).get(m, m) for m in corr["metrics"]]
    matrix = corr["pearson"]
    size = 0.75 * len(names) + 1.8
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    data = [[as_float(v) for v in row] for row in matrix]
    im = ax.imshow(data, cmap="RdBu_r", vmin=-1, vmax=1)
    for i, row in enumerate(data):
        for j, v in enumerate(row):
            text = "–" if math.isnan(v) else f"{v:.2f}"
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="white" if not math.isnan(v) and abs(v) > 0.6 else "black")
    ax.set_xticks(range(len(names)))
    ax.set_yticks(range(len(names)))
    ax.set_xticklabels(names, rotation=45, ha="right")
    ax.set_yticklabels(names)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="Pearson r")
    ax.set_title(f"Metric correlation across {corr['over']} (n = {corr['n']})")
    fig.tight_layout()
    return _save(fig, stem)


def site_rank_heatmap(ranks: Mapping[str, Any], stem: Path) -> list[Path]:
    """Rank of each system (rows) at each site (columns), rank written in each cell."""
    plt = _plt()
    systems, sites = ranks["systems"], ranks["sites"]
    data = [[ranks["ranks"][s][site] for site in sites] for s in systems]
    fig, ax = plt.subplots(figsize=(0.7 * len(sites) + 2.5, 0.45 * len(systems) + 1.5))
    im = ax.imshow(data, cmap="Greys_r", vmin=1, vmax=max(len(systems), 2))
    for i, row in enumerate(data):
        for j, v in enumerate(row):
            ax.text(j, i, str(v), ha="center", va="center", fontsize=8,
                    color="white" if v <= len(systems) / 2 else "black")
    ax.set_xticks(range(len(sites)))
    ax.set_xticklabels(sites, rotation=45, ha="right")
    ax.set_yticks(range(len(systems)))
    ax.set_yticklabels(systems)
    bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="rank (1 = best)")
    bar.set_ticks(range(1, max(len(systems), 2) + 1))
    from rexrank.metrics.registry import METRICS

    spec = METRICS.get(ranks["metric"])
    ax.set_title(f"Rank per site, {spec.display if spec else ranks['metric']}")
    fig.tight_layout()
    return _save(fig, stem)


def plots_for_result(result: Mapping[str, Any], out_dir: str | Path) -> list[Path]:
    """The figures one result supports, into ``out_dir/plots``."""
    out = Path(out_dir) / "plots"
    result = from_json(result)
    written = metric_bars([result], out / "metrics")
    # per-study values of a reciprocal metric are the raw quantity (RadCliQ-v1, not 1/RadCliQ-v1)
    displays = {m: _per_study_display(m, e) for m, e in result["metrics"].items()}
    written += normal_abnormal(result, out / "normal_abnormal") or []
    corr = (result.get("analyses") or {}).get("correlation")
    if corr:
        written += correlation_heatmap(corr, out / "correlation_studies", displays)
    return written


def _per_study_display(metric: str, entry: Mapping[str, Any]) -> str:
    display = entry.get("display", metric)
    if entry.get("reported_as") == "reciprocal_mean" and display.startswith("1/"):
        return f"{display[2:]} (lower is better)"
    return display


def plots_for_systems(results: Sequence[Mapping[str, Any]], out_dir: str | Path) -> list[Path]:
    """Figures comparing several systems: bars, cross-system correlation, per-site ranks."""
    out = Path(out_dir)
    results = [from_json(r) for r in results]
    written = metric_bars(results, out / "metrics_systems")
    displays = {m: e.get("display", m) for m, e in results[0]["metrics"].items()}
    corr = analysis.system_correlation(results)
    if corr:
        written += correlation_heatmap(corr, out / "correlation_systems", displays)
    for metric in results[0]["metrics"]:
        ranks = analysis.site_ranks(results, metric)
        if ranks:
            written += site_rank_heatmap(ranks, out / f"site_ranks_{metric}")
    return written
