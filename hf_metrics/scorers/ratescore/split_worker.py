"""A worker of :func:`~rexrank.metrics.scorers.ratescore.sentences.split_reports`: a JSON list of
texts on stdin, the JSON list of their kept sentences on stdout."""

import json
import sys

from rexrank.metrics.scorers.ratescore.sentences import default_splitter

if __name__ == "__main__":
    splitter = default_splitter()
    json.dump([splitter(text) for text in json.load(sys.stdin)], sys.stdout)
