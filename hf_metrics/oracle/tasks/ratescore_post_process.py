"""The official RaTEScore 0.6.0 ``post_process`` span decoding, on given tokens and labels.

The tokenizer is a stand-in whose ``convert_tokens_to_string`` joins with "|", so each entity
comes back as its exact token span.
"""


class _JoiningTokenizer:
    @staticmethod
    def convert_tokens_to_string(tokens):
        return "|".join(tokens)


def run(cases):
    from RaTEScore.utils import post_process

    return [[list(pair) for pair in post_process(case["tokens"], case["labels"], _JoiningTokenizer())]
            for case in cases]
