"""Shared plumbing of the ReXrank suite: the `rexrank` command, official assets, errors.

The work itself lives in `hf_datasets` (test sets), `hf_metrics` (scorers, `evaluate`
modules) and `space` (the leaderboard Space, generation adapters).
"""

__version__ = "0.1.0"
