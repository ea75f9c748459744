"""RaTEScore's sentence splitting, identical to the official medspacy pipeline, without medspacy.

The official code runs ``medspacy.load(medspacy_enable=["medspacy_pyrush", "medspacy_conte"])``
(sic): spaCy's blank English tokenizer (medspacy's own tokenizer is *not* enabled) and the
PyRuSH sentencizer with medspacy's English rules. medspacy and PyRuSH pin ``spacy<3.8`` on
Python < 3.12, which pins ``numpy<2``; so we run the same three parts ourselves:

1. RuSH's rules engine, PyFastNER's ``FastCNER`` (a pure-Python dependency), over medspacy's
   ``resources/en/rush_rules.tsv`` fetched at the pinned medspacy release (``rexrank.assets``);
2. ``RuSH.segToSentenceSpans`` (character spans), ported from PyRuSH 1.0.13;
3. PyRuSH's ``cpredict_split_gaps``, which snaps those character spans to spaCy tokens of
   ``spacy.blank("en")`` (spaCy >= 3.8 runs on numpy 2, and its English tokenizer is unchanged).

Then RaTEScore's own filter: strip each sentence, drop it if it has no word or is shorter
than 3 characters. ``tests/test_ratescore_sentences.py`` proves the result equal to the
official pipeline on every report of the IU-Xray manifests.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Sequence

RULES_ASSET = "ratescore/rush_rules"
MIN_SENTENCE_CHARS = 3  # RaTEScore's sentence_split: len(sent) < 3 is dropped


@dataclass
class _Span:
    begin: int
    end: int

    @property
    def width(self) -> int:
        return self.end - self.begin


class _PyFastNERNoise(logging.Filter):
    """Drops PyFastNER's root-logger INFO lines ("... is not a eligible syntax."): it logs one for
    each rule with an escape it does not know, on every report, so an INFO-level run (``rexrank
    score``) would print hundreds of thousands of them. Its warnings and errors still pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno < logging.WARNING and record.name == "root" and "PyFastNER" in record.pathname)


def _quiet_pyfastner() -> None:
    root = logging.getLogger()
    if not any(isinstance(f, _PyFastNERNoise) for f in root.filters):
        root.addFilter(_PyFastNERNoise())


class RuSH:
    """PyRuSH 1.0.13's ``RuSH`` (rule-based sentence spans), minus its debug logging."""

    BEGIN, END = "stbegin", "stend"

    def __init__(self, rules_path: str, max_repeat: int = 50, auto_fix_gaps: bool = True, min_sent_chars: int = 5):
        from PyFastNER import FastCNER

        _quiet_pyfastner()
        self.fastner = FastCNER(rules_path, max_repeat)
        self.fastner.span_compare_method = "scorewidth"
        self.auto_fix_gaps = auto_fix_gaps
        self.min_sent_chars = min_sent_chars
        if not self.fastner.full_definition:  # old rule format: odd scores are pseudo rules
            for rule in self.fastner.rule_store.values():
                if rule.score % 2 != 0:
                    rule.type = "PSEUDO"
            self.fastner.constructRuleMap(self.fastner.rule_store)

    def spans(self, text: str) -> list[_Span]:
        """Sentence character spans of ``text`` (``segToSentenceSpans``)."""
        output: list[_Span] = []
        result: dict = {self.BEGIN: [], self.END: []}
        self.fastner.process(text, 0, result)
        begins, ends = result[self.BEGIN], result[self.END]
        st_begin, st_started, st_end, j = 0, False, 0, 0
        for i in range(len(begins)):
            token = begins[i]
            if not st_started:
                st_begin = token.begin
                if st_begin < st_end:
                    continue
                st_started = True
            elif token.begin < st_end:
                continue
            if self.auto_fix_gaps and output and st_begin > output[-1].end:
                self._fix_gap(output, text, output[-1].end, st_begin)
            elif self.auto_fix_gaps and not output and st_begin > 0:
                self._fix_gap(output, text, 0, st_begin)
            for k in range(j, len(ends)):
                if i < len(begins) - 1 and k < len(ends) - 1 and begins[i + 1].begin < ends[k].begin + 1:
                    break
                st_end = ends[k].begin + 1
                j = k
                while st_end >= 1 and (text[st_end - 1].isspace() or ord(text[st_end - 1]) == 160):
                    st_end -= 1
                if st_end < st_begin:
                    continue
                elif st_started:
                    output.append(_Span(st_begin, st_end))
                    st_started = False
                    if i == len(begins) - 1 or (k < len(ends) - 1 and begins[i + 1].begin > ends[k + 1].end):
                        continue
                    break
                else:
                    output[-1] = _Span(st_begin, st_end)
                    st_started = False
        if self.auto_fix_gaps:  # beginning and ending gaps the rules missed
            if output:
                head = _trim_gap(text, 0, output[0].begin)
                if head is not None:
                    if output[0].begin <= ends[0].begin:
                        output[0].begin = head.begin
                    else:
                        output.insert(0, head)
                tail = _trim_gap(text, output[-1].end, len(text))
                if tail is not None:
                    if tail.width > self.min_sent_chars:
                        output.append(tail)
                    else:
                        output[-1].end = tail.end
            else:
                whole = _trim_gap(text, 0, len(text))
                if whole is not None and whole.width > self.min_sent_chars:
                    output.append(whole)
        return output

    def _fix_gap(self, sentences: list[_Span], text: str, previous_end: int, this_begin: int) -> None:
        gap = _trim_gap(text, previous_end, this_begin)
        if gap is None:
            return
        if gap.width > self.min_sent_chars:
            sentences.append(gap)
        elif sentences:
            sentences[-1].end = gap.end


def _trim_gap(text: str, previous_end: int, this_begin: int) -> _Span | None:
    begin, end = -1, 0
    gap = text[previous_end:this_begin]
    for i in range(this_begin - previous_end):
        if not gap[i].isspace():
            begin = i
            break
    for i in range(this_begin - previous_end - 1, begin, -1):
        if gap[i].isalnum() or gap[i] in '.!?)]"':
            end = i
            break
    if end > begin != -1:
        return _Span(begin + previous_end, end + previous_end + 1)
    return None


def sentence_starts(tokens: Sequence[tuple[int, str]], spans: Sequence[_Span]) -> list[bool]:
    """Which tokens ``(char offset, text)`` start a sentence: PyRuSH's ``cpredict_split_gaps``
    (``merge_gaps=False``, no ``max_sentence_length``, as medspacy configures it)."""
    n = len(tokens)
    starts = [False] * n
    num_spans = len(spans)
    t = span_idx = 0
    while t < n:
        idx, text = tokens[t]
        next_begin = spans[span_idx + 1].begin if span_idx < num_spans - 1 else -1
        if span_idx < num_spans - 1 and spans[span_idx].end <= idx < next_begin:  # a gap between spans
            gap_end = t
            while gap_end < n and tokens[gap_end][0] < next_begin:
                gap_end += 1
            space = next((i for i in range(t, gap_end) if tokens[i][1].isspace()), -1)
            starts[space if space != -1 else t] = True
            t = gap_end
            continue
        while span_idx < num_spans and idx >= spans[span_idx].end:
            span_idx += 1
        if span_idx >= num_spans:  # after the last span only whitespace tokens start sentences
            if text.isspace():
                starts[t] = True
            t += 1
            continue
        span = spans[span_idx]
        if span.begin <= idx < span.end:
            if idx == span.begin:
                starts[t] = True
            if t + 1 < n and tokens[t + 1][0] >= span.end:  # last token of the span
                starts[t + 1] = True
        t += 1
    return starts


class SentenceSplitter:
    """Text -> RaTEScore's kept sentences, as the official ``sentence_split`` gives them."""

    def __init__(self, rules_path: str | None = None):
        import spacy

        if rules_path is None:
            from rexrank import assets

            rules_path = str(assets.fetch(RULES_ASSET))
        self.rush = RuSH(rules_path)
        self.tokenizer = spacy.blank("en").tokenizer

    def raw_sentences(self, text: str) -> list[str]:
        """The text of each spaCy sentence (``str(sent)`` for ``sent in doc.sents``)."""
        doc = self.tokenizer(text)
        if len(doc) == 0:
            return []
        tokens = [(token.idx, token.text) for token in doc]
        starts = sentence_starts(tokens, self.rush.spans(text))
        bounds = [0] + [i for i in range(1, len(tokens)) if starts[i]] + [len(tokens)]
        out = []
        for a, b in zip(bounds, bounds[1:]):
            last_idx, last_text = tokens[b - 1]
            out.append(text[tokens[a][0]:last_idx + len(last_text)])
        return out

    def __call__(self, text: str) -> list[str]:
        kept = []
        for sentence in self.raw_sentences(text):
            sentence = sentence.strip()
            if not sentence.split() or len(sentence) < MIN_SENTENCE_CHARS:
                continue
            kept.append(sentence)
        return kept


@functools.lru_cache(maxsize=2)
def default_splitter(rules_path: str | None = None) -> SentenceSplitter:
    """One splitter per process (building the rule trie takes a moment)."""
    return SentenceSplitter(rules_path)


WORKER = "rexrank.metrics.scorers.ratescore.split_worker"
REPORTS_PER_WORKER = 1000  # below this many reports per process, starting one costs more than it saves


def default_workers(n_reports: int) -> int:
    """Processes for splitting ``n_reports``: half the cores, at most 16, and enough work for each."""
    import os

    return max(1, min(16, (os.cpu_count() or 1) // 2, n_reports // REPORTS_PER_WORKER))


def split_reports(texts: Sequence[str], workers: int | None = None) -> list[list[str]]:
    """Each text's kept sentences. The rules engine is pure Python (~5 ms a report), so many
    reports are split by ``workers`` child processes (``python -m ...ratescore.split_worker``,
    JSON over pipes: nothing of the caller's ``__main__`` is re-run, nothing is forked); each
    gives the sentences one process gives."""
    import json
    import os
    import subprocess
    import sys
    from concurrent.futures import ThreadPoolExecutor

    texts = list(texts)
    workers = default_workers(len(texts)) if workers is None else max(1, int(workers))
    if workers == 1 or len(texts) < 2:
        splitter = default_splitter()
        return [splitter(t) for t in texts]
    size = -(-len(texts) // workers)
    chunks = [texts[i:i + size] for i in range(0, len(texts), size)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}  # the caller's imports

    def run(chunk: list[str]) -> list[list[str]]:
        done = subprocess.run([sys.executable, "-m", WORKER], input=json.dumps(chunk), capture_output=True,
                              text=True, env=env, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"RaTEScore sentence splitting in a child process failed:\n{done.stderr[-2000:]}")
        return json.loads(done.stdout)

    with ThreadPoolExecutor(len(chunks)) as pool:
        return [sentences for part in pool.map(run, chunks) for sentences in part]
