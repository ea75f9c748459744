"""ReXrank: the leaderboard's metrics for chest X-ray report generation, with 95% CIs (evaluate module).

A thin adapter: the work is in the installed ``rexrank`` package (``hf_metrics.suite``).
"""

from hf_metrics import suite_metric


class Rexrank(suite_metric.SuiteMetric):
    """``evaluate.load("rexrank").compute(predictions=..., references=...)``."""
