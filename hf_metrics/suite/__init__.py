"""The ReXrank suite: run the registry's metrics the way the leaderboard reports them.

* :func:`score_predictions`: lists of predictions and references in, per metric the leaderboard
  value (mean, or ``1/mean`` for RadCliQ-v1 and FineRadScore), its 95% CI and n out.
* :func:`score_test_set`: a ReXrank test set and a ``{study_id: report}`` mapping in, the
  content of ``results.json`` out (values, CIs, per-study values, analyses, provenance).

Modules: ``run`` (per-study values, cached), ``summary`` (value, CI, n), ``test_set``,
``stats`` (CIs and paired tests), ``analysis`` (strata, correlations), ``compare`` (two systems).
"""

from rexrank.metrics.suite.run import MetricRun, run_metrics
from rexrank.metrics.suite.summary import score_predictions, summarise
from rexrank.metrics.suite.test_set import score_test_set

__all__ = ["MetricRun", "run_metrics", "score_predictions", "score_test_set", "summarise"]
