"""RadGraph's text side: pre-tokenisation into words, and words into wordpiece segments.

Both follow radgraph 0.1.18 exactly (``radgraph.utils.preprocess_reports`` with
``model_type="radgraph"``, the vendored allennlp ``PretrainedTransformerMismatchedIndexer`` with
``max_length``): each word is wordpiece-tokenised on its own; a report longer than
``max_length - 2`` wordpieces is cut into consecutive segments of that many wordpieces, each
wrapped in ``[CLS] … [SEP]`` and encoded separately (word boundaries are not respected).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

# The official pattern, verbatim. Its class ``[/,-,:,.,!?()]`` holds / , : . ! ? ( ) — ",-," is the
# range from "," to ",", so the hyphen is NOT split off. Only a space (not a newline) counts as
# "already separated".
_SPLIT = re.compile("(?<! )(?=[/,-,:,.,!?()])|(?<=[/,-,:,.,!?()])(?! )")


def pretokenize(report: str) -> list[str]:
    """The report's words, as radgraph 0.1.18 feeds them to the model (one sentence)."""
    return _SPLIT.sub(" ", report).split()


def normalize_word(word: str) -> str:
    """DyGIE's reader maps "/." and "/?" to "." and "?" before indexing (never for output)."""
    return word[1:] if word in ("/.", "/?") else word


@dataclass
class EncodedDoc:
    """One report's words and wordpieces. ``word_pieces[i]`` = (first, count) into the report's
    wordpieces (special tokens excluded); count 0 for a word the tokenizer drops entirely."""

    words: list[str]
    piece_ids: np.ndarray  # (n_pieces,) int64
    word_first: np.ndarray  # (n_words,) int64
    word_count: np.ndarray  # (n_words,) int64


class WordPiecer:
    """Wordpiece ids per word, tokenising each distinct word once per process."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        self._cache: dict[str, list[int]] = {}

    def _fill(self, words: Sequence[str]) -> None:
        new = [w for w in dict.fromkeys(words) if w not in self._cache]
        if new:
            encoded = self.tokenizer(new, add_special_tokens=False, return_attention_mask=False,
                                     return_token_type_ids=False)["input_ids"]
            self._cache.update(zip(new, encoded))

    def encode(self, reports: Sequence[str]) -> list[EncodedDoc]:
        words_per_doc = [pretokenize(r) for r in reports]
        self._fill([normalize_word(w) for words in words_per_doc for w in words])
        docs = []
        for words in words_per_doc:
            pieces = [self._cache[normalize_word(w)] for w in words]
            counts = np.fromiter((len(p) for p in pieces), dtype=np.int64, count=len(pieces))
            first = np.concatenate(([0], np.cumsum(counts)[:-1])) if len(counts) else counts
            ids = np.fromiter((i for p in pieces for i in p), dtype=np.int64, count=int(counts.sum()))
            docs.append(EncodedDoc(words, ids, first.astype(np.int64), counts))
        return docs


def segments(n_pieces: int, max_length: int, n_special: int = 2) -> list[tuple[int, int]]:
    """(start, stop) wordpiece ranges the official indexer encodes separately."""
    size = max_length - n_special
    return [(i, min(i + size, n_pieces)) for i in range(0, n_pieces, size)]
