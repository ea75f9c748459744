"""RadGraph's text side: pre-tokenisation into words, and words into wordpiece segments.

Both follow radgraph 0.1.18 exactly (``radgraph.utils.preprocess_reports``: the regex split for
``model_type="radgraph"``, ``radgraph_xl_preprocess_report`` for the XL models; the vendored
allennlp ``PretrainedTransformerMismatchedIndexer`` with ``max_length``): each word is tokenised
on its own (wordpieces, or byte-level BPE without a prefix space for ModernBERT); a report
longer than ``max_length - 2`` pieces is cut into consecutive segments of that many pieces,
each wrapped in ``[CLS] … [SEP]`` and encoded separately (word boundaries are not respected).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

# The official pattern, verbatim. Its class ``[/,-,:,.,!?()]`` holds / , : . ! ? ( ) — ",-," is the
# range from "," to ",", so the hyphen is NOT split off. Only a space (not a newline) counts as
# "already separated".
_SPLIT = re.compile("(?<! )(?=[/,-,:,.,!?()])|(?<=[/,-,:,.,!?()])(?! )")


def pretokenize(report: str) -> list[str]:
    """The report's words, as radgraph 0.1.18 feeds them to the model (one sentence)."""
    return _SPLIT.sub(" ", report).split()


# nltk's wordpunct_tokenize pattern. nltk >= 3.10 compiles it with the third-party ``regex``
# engine (nltk/redos.py), whose ``\w`` differs from stdlib ``re`` for some code points
# ("2½" is one word for ``re``, two for ``regex``): so do we. Older nltk used ``re``.
_WORDPUNCT = None
_XL_REPLACES = ((").", ") ."), ("%.", "% ."), (".'", ". '"), ("%,", "% ,"), ("%)", "% )"))


def pretokenize_xl(report: str) -> list[str]:
    """The report's words as radgraph 0.1.18's ``radgraph_xl_preprocess_report`` makes them
    (radgraph-xl, modern-radgraph-xl). No lower-casing; punctuation runs stay one word."""
    global _WORDPUNCT
    if _WORDPUNCT is None:
        import regex

        _WORDPUNCT = regex.compile(r"\w+|[^\w\s]+", regex.UNICODE | regex.MULTILINE | regex.DOTALL)
    text = (report.replace("\\n", "  ").replace("\\f", "  ").replace("\\u2122", "      ")
            .replace("\n", " ").replace('\\"', "``"))  # literal backslash sequences, as the official code
    text = " ".join(_WORDPUNCT.findall(re.sub(r"\s+", " ", text)))
    for old, new in _XL_REPLACES:
        text = text.replace(old, new)
    return text.split()


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

    def __init__(self, tokenizer: Any, split: Callable[[str], list[str]] = pretokenize):
        self.tokenizer = tokenizer
        self.split = split
        self._cache: dict[str, list[int]] = {}

    def _fill(self, words: Sequence[str]) -> None:
        new = [w for w in dict.fromkeys(words) if w not in self._cache]
        if new:
            encoded = self.tokenizer(new, add_special_tokens=False, return_attention_mask=False,
                                     return_token_type_ids=False)["input_ids"]
            self._cache.update(zip(new, encoded))

    def encode(self, reports: Sequence[str]) -> list[EncodedDoc]:
        words_per_doc = [self.split(r) for r in reports]
        self._fill([normalize_word(w) for words in words_per_doc for w in words])
        docs = []
        for words in words_per_doc:
            pieces = [self._cache[normalize_word(w)] for w in words]
            counts = np.fromiter((len(p) for p in pieces), dtype=np.int64, count=len(pieces))
            first = np.concatenate(([0], np.cumsum(counts)[:-1])) if len(counts) else counts
            ids = np.fromiter((i for p in pieces for i in p), dtype=np.int64, count=int(counts.sum()))
            docs.append(EncodedDoc(words, ids, first.astype(np.int64), counts))
        return docs


@dataclass
class EncoderLayout:
    """How radgraph 0.1.18's indexer and embedder lay one report's pieces out for the encoder.

    ``ids``: the indexer's token ids (the pieces cut every ``max_length - n_special`` pieces, each
    chunk passed through the tokenizer's ``build_inputs_with_special_tokens``); ``rows``: (start,
    stop) slices of ``ids`` the encoder sees (the embedder folds ``ids`` every ``max_length``
    when longer); ``take``: positions of ``ids`` whose vectors form the embedder's output, in
    order. A word's vectors are that output at its piece offsets plus ``n_start``.
    """

    ids: np.ndarray
    rows: list[tuple[int, int]]
    take: np.ndarray


def _unfold_positions(length: int, max_length: int, n_start: int, n_end: int) -> np.ndarray:
    """allennlp's ``_unfold_long_sequences`` applied to positions instead of vectors: each
    ``max_length`` segment loses its first ``n_start`` and last ``n_end`` positions (taken to be
    special tokens, whether they are or not), then the first segment's start and the sequence's
    end positions are put back."""
    k = -(-length // max_length)
    folded = np.arange(k * max_length).reshape(k, max_length)
    end = length - np.arange(n_end) - 1
    body = np.concatenate([folded[:, n_start:max_length - n_end].reshape(-1), np.full(n_end, -1)])
    body[end - (k * (n_start + n_end) - n_end)] = end
    return np.concatenate([folded.reshape(-1)[:n_start], body])[:length - (k - 1) * (n_start + n_end)]


def official_layout(piece_ids: np.ndarray, max_length: int, start_ids: Sequence[int], end_ids: Sequence[int],
                    adds_special_tokens: bool) -> EncoderLayout:
    """The encoder input of one report as radgraph 0.1.18 builds it (``PretrainedTransformerIndexer.
    _postprocess_output`` + ``PretrainedTransformerEmbedder`` fold/unfold). With a tokenizer whose
    ``build_inputs_with_special_tokens`` adds nothing (transformers 4's generic
    ``PreTrainedTokenizerFast``, e.g. ModernBERT's) the encoder sees no [CLS]/[SEP] and every word
    offset still counts the [CLS]: each word is pooled from the pieces one place to its right."""
    n_start, n_end = len(start_ids), len(end_ids)
    size = max_length - n_start - n_end
    start, end = np.asarray(start_ids, np.int64), np.asarray(end_ids, np.int64)
    chunks = [piece_ids[i:i + size] for i in range(0, len(piece_ids), size)]
    if adds_special_tokens:
        chunks = [np.concatenate([start, c, end]) for c in chunks]
    ids = np.concatenate(chunks) if chunks else np.zeros(0, np.int64)
    if len(ids) <= max_length:
        return EncoderLayout(ids, [(0, len(ids))] if len(ids) else [], np.arange(len(ids)))
    rows = [(a, min(a + max_length, len(ids))) for a in range(0, len(ids), max_length)]
    return EncoderLayout(ids, rows, _unfold_positions(len(ids), max_length, n_start, n_end))


def special_tokens(tokenizer: Any) -> tuple[list[int], list[int]]:
    """The ids the tokenizer puts before and after one sequence (allennlp reverse-engineers them
    from "a", or "1" when "a" is not one piece)."""
    for probe in ("a", "1"):
        bare = tokenizer(probe, add_special_tokens=False)["input_ids"]
        full = tokenizer(probe)["input_ids"]
        if len(bare) == 1 and full.count(bare[0]) == 1:
            at = full.index(bare[0])
            return list(full[:at]), list(full[at + 1:])
    raise ValueError("cannot tell which special tokens the tokenizer adds around a sequence")


# transformers 4 model types whose AutoTokenizer is the generic PreTrainedTokenizerFast (its
# TOKENIZER_MAPPING_NAMES at 4.57), whose build_inputs_with_special_tokens returns ids unchanged.
_GENERIC_FAST = frozenset({"bitnet", "blt", "csm", "falcon", "glm", "glm4", "glm4_moe", "glm4v", "glm4v_moe", "gpt_oss",
                           "helium", "kosmos-2.5", "modernbert", "moonshine", "moshi", "nemotron", "pixtral",
                           "smollm3", "voxtral"})


def adds_special_tokens_in_v4(tokenizer_config: dict, model_type: str | None) -> bool:
    """Whether the tokenizer radgraph 0.1.18 gets on transformers 4 (``AutoTokenizer``,
    ``use_fast=True``) adds special tokens in ``build_inputs_with_special_tokens``: every concrete
    tokenizer class does; the generic ``PreTrainedTokenizerFast`` does not."""
    name = tokenizer_config.get("tokenizer_class")
    if name:
        return name not in ("PreTrainedTokenizerFast", "PreTrainedTokenizer", "TokenizersBackend")
    return model_type not in _GENERIC_FAST
