"""The official RaTEScore 0.6.0 sentence splitting (medspacy + PyRuSH), per text.

Returns, for each text, the raw spaCy sentences (``str(sent)`` for ``doc.sents``) of the very
``nlp`` object RaTEScore's ``sentence_split`` uses, and what ``sentence_split`` keeps.
"""

from RaTEScore import utils


def run(texts):
    out = []
    for text in texts:
        kept, _ = utils.sentence_split([text])
        out.append({"raw": [str(sent) for sent in utils.nlp(text).sents], "kept": kept})
    return out
