"""ReXrank: the leaderboard's metrics for chest X-ray report generation, with 95% CIs (evaluate module).

A thin adapter: the work is in the installed ``rexrank`` package (``rexrank.metrics.suite``).
"""

from rexrank.metrics.evaluate_glue import suite_metric


class Rexrank(suite_metric.SuiteMetric):
    """``evaluate.load("rexrank").compute(predictions=..., references=...)``."""
