"""RadCliQ v0 and v1 (CXR-Report-Metric's composite metrics), DESIGN §7.6.

A linear model over four per-study metrics, x = [RadGraph F1, BERTScore (rescaled F1),
SembScore, BLEU-2], standardised with the scaler the official pickles hold. Constants copied
from the CXR-Report-Metric pickles (``composite_metric_model.pkl`` for v0,
``radcliq-v1.pkl`` for v1) as DESIGN §7.6 lists them; computed in float64 in that order.
Lower is better; the leaderboard reports 1 / (mean over studies of RadCliQ-v1).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from rexrank.metrics.scorers.base import ScoreResult
from rexrank.metrics.registry import get_spec, load_scorer

COMPONENTS = ("radgraph", "bertscore", "semb_score", "bleu2")  # the official column order

V0_MEAN = (0.5398376019082272, 0.6312549595000001, 0.7716797866672277, 0.4607372064809605)
V0_SCALE = (0.3018344440559102, 0.22466950746141123, 0.24750333805236252, 0.30336670936092264)
V0_COEF = (-0.4796252644863446, -0.6762170542369337, -0.46366575161751994, 0.2165861905287535)
V0_INTERCEPT = 1.641666666666666

V1_MEAN = (0.5379231241355762, 0.6175725628125001, 0.7647942121140658, 0.44738335396242174)
V1_SCALE = (0.3028258411486429, 0.22430938459304575, 0.2539439110169773, 0.2989271671041838)
V1_COEF = (-0.37708368261038905, -0.37030009974480316, -0.25261621789593225, 4.315048405024756e-12)
V1_INTERCEPT = 2.466552561323256e-10


def _linear(x: Any, mean: Sequence[float], scale: Sequence[float], coef: Sequence[float], intercept: float) -> Any:
    import numpy as np

    z = (np.asarray(x, dtype=np.float64) - np.asarray(mean, dtype=np.float64)) / np.asarray(scale, dtype=np.float64)
    return z @ np.asarray(coef, dtype=np.float64) + intercept


def radcliq_v0(x: Any) -> Any:
    """RadCliQ-v0 of rows x = [radgraph, bertscore, semb_score, bleu2]."""
    return _linear(x, V0_MEAN, V0_SCALE, V0_COEF, V0_INTERCEPT)


def radcliq_v1(x: Any) -> Any:
    """RadCliQ-v1 of rows x = [radgraph, bertscore, semb_score, bleu2]."""
    return _linear(x, V1_MEAN, V1_SCALE, V1_COEF, V1_INTERCEPT)


def _column(component: str, value: ScoreResult | Sequence[float]) -> list[float]:
    if isinstance(value, ScoreResult):
        return list(value.values[component])
    return [float(v) for v in value]


class RadCliQScorer:
    """``RadCliQScorer(**options)(preds, refs, components=None)``.

    Per-study columns ``radcliq`` (v1, the leaderboard's, reported as 1/mean) and
    ``radcliq_v0``. ``components`` maps each of radgraph / bertscore / semb_score / bleu2 to its
    ScoreResult (or per-study list) when already computed; missing ones are computed here with
    ``load_scorer(name, **options)`` (``device``, ``batch_size``, ``progress`` are passed on).
    """

    name = "radcliq"

    def __init__(self, components: Mapping[str, ScoreResult | Sequence[float]] | None = None, **options: Any):
        self.components = dict(components or {})
        self.options = {k: v for k, v in options.items() if k in ("device", "batch_size", "progress")}

    def __call__(self, predictions: Sequence[str], references: Sequence[str],
                 components: Mapping[str, ScoreResult | Sequence[float]] | None = None) -> ScoreResult:
        from rexrank.metrics.scorers.base import check_pairs

        predictions, references = check_pairs(predictions, references, self.name)
        given = {**self.components, **(components or {})}
        provenance: dict[str, Any] = {}
        columns: dict[str, list[float]] = {}
        for name in get_spec(self.name).requires:
            if name in given:
                columns[name] = _column(name, given[name])
                if isinstance(given[name], ScoreResult):
                    provenance[name] = given[name].provenance
            else:
                result = load_scorer(name, **self.options)(predictions, references)
                columns[name], provenance[name] = result.values[name], result.provenance
        result = self.from_components(columns)
        result.provenance["components"] = provenance
        return result

    def from_components(self, components: Mapping[str, Sequence[float]]) -> ScoreResult:
        """RadCliQ from per-study component values (the suite's path: components computed once)."""
        import numpy as np

        from rexrank.errors import InputError

        missing = [c for c in COMPONENTS if c not in components]
        if missing:
            raise InputError(f"radcliq needs the per-study values of {', '.join(missing)}")
        lengths = {c: len(components[c]) for c in COMPONENTS}
        if len(set(lengths.values())) != 1:
            raise InputError(f"radcliq: component lengths differ: {lengths}")
        x = np.column_stack([np.asarray(components[c], dtype=np.float64) for c in COMPONENTS]) \
            if lengths["bleu2"] else np.zeros((0, 4))
        bad = np.where(~np.isfinite(x).all(axis=1))[0]
        if len(bad):
            raise InputError(f"radcliq: non-finite component values at position(s) {bad[:5].tolist()}")
        return ScoreResult(self.name, {self.name: radcliq_v1(x).tolist(), "radcliq_v0": radcliq_v0(x).tolist()},
                           provenance={"version": "v1 (radcliq), v0 (radcliq_v0)", "inputs": list(COMPONENTS),
                                       "official": "CXR-Report-Metric radcliq-v1.pkl / composite_metric_model.pkl"})
