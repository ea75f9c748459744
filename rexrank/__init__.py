"""Shared plumbing of the ReXrank suite: the `rexrank` command, official assets, errors.

The work itself lives in `hf_datasets` (test sets), `hf_metrics` (scorers, `evaluate`
modules) and `space` (the leaderboard Space, generation adapters).
"""

# The one source of the package version: pyproject.toml reads it at build time
# ([tool.setuptools.dynamic]), results record it in their provenance, and `rexrank space build`
# and the evaluate module Spaces install exactly this version.
__version__ = "0.1.0"
