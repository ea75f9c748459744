"""A WordPiece vocabulary built deterministically from a corpus, for the BERT-family stand-ins.

Every character and its ``##`` continuation is in it (any text of those characters encodes
without ``[UNK]``), then the corpus's words by frequency. The ``tokenizers`` WordPiece trainer
breaks ties differently from run to run, so stand-ins built with it differed between builds.
"""

from __future__ import annotations

import re
from typing import Iterable


def wordpiece_pieces(texts: Iterable[str], size: int) -> list[str]:
    """At most ``size`` pieces (fewer if the corpus has fewer words): characters, ``##`` characters, common words."""
    words: dict[str, int] = {}
    for text in texts:
        for word in re.findall(r"\w+|[^\w\s]", text.lower()):
            words[word] = words.get(word, 0) + 1
    chars = sorted({c for w in words for c in w})
    pieces = chars + [f"##{c}" for c in chars]
    common = [w for w, _ in sorted(words.items(), key=lambda kv: (-kv[1], kv[0])) if w not in pieces]
    return pieces + common[: max(0, size - len(pieces))]
