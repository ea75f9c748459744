"""GREEN's model input, token for token as the official code builds it, on any transformers.

Official (Stanford-AIMI/GREEN @ d72c195, ``green.py``): ``make_prompt`` cuts each report to
its first 300 whitespace-separated words; the prompt goes through a fixed chat template with
messages ``[human: prompt, gpt: ""]`` and ``add_generation_prompt=True``; then
``AutoTokenizer(..., add_eos_token=True, use_fast=True)`` (transformers 4.x
``LlamaTokenizerFast``) encodes it with ``<s>`` in front and ``</s>`` at the end, truncated to
``max_length=2048``; outputs are decoded with ``skip_special_tokens=True`` and
``clean_up_tokenization_spaces=True``.

transformers 5 rebuilds Llama tokenizers (no ``<s>`` with these settings, no "▁" after a
special token), so we do not go through it: we run the repository's own ``tokenizer.json``
with the ``tokenizers`` library, as ``LlamaTokenizerFast`` did, and add ``<s>``/``</s>``
ourselves. A repository with only ``tokenizer.model`` is converted the way transformers 4.x
converts it (``LlamaConverter``, honouring ``legacy``). The repository's custom tokenizer
code is never run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from rexrank.errors import CheckpointMismatchError

MAX_WORDS = 300  # make_prompt(max_len=300)
MAX_LENGTH = 2048  # GREEN.max_length: prompt and completion together
REFERENCE, CANDIDATE = "<<REFERENCE>>", "<<CANDIDATE>>"

# GREEN.__init__ sets this template; the rendering below is what it produces (trim_blocks).
OFFICIAL_CHAT_TEMPLATE = (
    "{% for message in messages %}\n{% if message['from'] == 'human' %}\n{{ '<|user|>\n' + message['value'] + "
    "eos_token }}\n{% elif message['from'] == 'system' %}\n{{ '<|system|>\n' + message['value'] + eos_token }}\n"
    "{% elif message['from'] == 'gpt' %}\n{{ '<|assistant|>\n'  + message['value'] + eos_token }}\n{% endif %}\n"
    "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}")


def make_prompt(template: str, reference: str, candidate: str, max_words: int = MAX_WORDS) -> str:
    """``make_prompt``: both reports cut to ``max_words`` words (whitespace collapsed), put in."""
    head, rest = template.split(REFERENCE)
    middle, tail = rest.split(CANDIDATE)
    return (head + " ".join(reference.split()[:max_words]) + middle
            + " ".join(candidate.split()[:max_words]) + tail)


def render_chat(prompt: str, eos_token: str = "</s>") -> str:
    """The official chat template applied to ``[human: prompt, gpt: ""]`` with a generation prompt."""
    return f"<|user|>\n{prompt}{eos_token}\n<|assistant|>\n{eos_token}\n<|assistant|>\n"


def clean_up_tokenization(text: str) -> str:
    """transformers 4.x ``clean_up_tokenization`` (the official decode sets it on)."""
    return (text.replace(" .", ".").replace(" ?", "?").replace(" !", "!").replace(" ,", ",")
            .replace(" ' ", "'").replace(" n't", "n't").replace(" 'm", "'m").replace(" 's", "'s")
            .replace(" 've", "'ve").replace(" 're", "'re"))


@dataclass
class GreenTokenizer:
    """Encode rendered prompts and decode outputs exactly as the official GREEN run did."""

    backend: object  # tokenizers.Tokenizer
    bos_id: int | None
    eos_id: int
    eos_token: str = "</s>"

    @classmethod
    def from_folder(cls, folder: str | Path) -> "GreenTokenizer":
        from tokenizers import Tokenizer

        folder = Path(folder)
        config = _read_json(folder / "tokenizer_config.json")
        specials = _read_json(folder / "special_tokens_map.json")
        if (folder / "tokenizer.json").is_file():
            backend = Tokenizer.from_file(str(folder / "tokenizer.json"))
        elif (folder / "tokenizer.model").is_file():
            backend = _convert_sentencepiece(folder / "tokenizer.model", legacy=config.get("legacy", True) is not False)
        else:
            raise CheckpointMismatchError(f"GREEN tokenizer: neither tokenizer.json nor tokenizer.model in {folder}")
        backend.no_truncation()
        backend.no_padding()
        _add_declared_tokens(backend, folder, config, specials)
        bos = _content(config.get("bos_token") or specials.get("bos_token") or "<s>")
        eos = _content(config.get("eos_token") or specials.get("eos_token") or "</s>")
        add_bos = config.get("add_bos_token", True)
        eos_id = backend.token_to_id(eos)
        if eos_id is None or (add_bos and backend.token_to_id(bos) is None):
            raise CheckpointMismatchError(f"GREEN tokenizer in {folder}: {bos!r}/{eos!r} not in the vocabulary")
        return cls(backend, backend.token_to_id(bos) if add_bos else None, eos_id, eos)

    def encode(self, texts: Sequence[str], max_length: int = MAX_LENGTH) -> list[list[int]]:
        """``<s> text </s>`` ids per text (``add_eos_token=True``); the text part is cut so that the
        whole fits ``max_length`` (``truncation=True``: right side, special tokens kept)."""
        specials = [i for i in (self.bos_id,) if i is not None]
        room = max_length - len(specials) - 1
        encoded = self.backend.encode_batch(list(texts), add_special_tokens=False)
        return [specials + e.ids[:room] + [self.eos_id] for e in encoded]

    def decode(self, ids: Sequence[int]) -> str:
        """``batch_decode(..., skip_special_tokens=True)`` with ``clean_up_tokenization_spaces=True``."""
        return clean_up_tokenization(self.backend.decode(list(ids), skip_special_tokens=True))


def _add_declared_tokens(backend, folder: Path, config: dict, specials: dict) -> None:
    """Added tokens declared beside the vocabulary, in id order, as ``LlamaTokenizerFast`` loads them:
    ``added_tokens_decoder`` (tokenizer_config.json), ``added_tokens.json``, then the additional
    special tokens (special ones are skipped when decoding)."""
    from tokenizers import AddedToken

    declared = sorted((int(i), t) for i, t in config.get("added_tokens_decoder", {}).items())
    declared += sorted((i, {"content": c}) for c, i in _read_json(folder / "added_tokens.json").items())
    for _, token in declared:
        content = _content(token)
        if backend.token_to_id(content) is None:
            added = AddedToken(content, special=bool(token.get("special", False)),
                               normalized=bool(token.get("normalized", not token.get("special", False))),
                               lstrip=bool(token.get("lstrip", False)), rstrip=bool(token.get("rstrip", False)))
            (backend.add_special_tokens if added.special else backend.add_tokens)([added])
    extra = [_content(t) for t in specials.get("additional_special_tokens", []) + config.get("additional_special_tokens", [])]
    backend.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in dict.fromkeys(extra)])


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def _content(token: str | dict) -> str:
    return token["content"] if isinstance(token, dict) else token


def _convert_sentencepiece(model_file: Path, legacy: bool):
    """``tokenizer.model`` -> tokenizers pipeline, as transformers 4.x ``LlamaConverter`` builds it
    (BPE with byte fallback, merges ordered by piece score; legacy: a "▁" is prepended to every
    text segment, also after a special token; non-legacy: only at the start)."""
    from sentencepiece import sentencepiece_model_pb2 as model_pb2
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from transformers.tokenization_utils_base import generate_merges

    proto = model_pb2.ModelProto()
    proto.ParseFromString(Path(model_file).read_bytes())
    scores = [(p.piece, p.score) for p in proto.pieces]
    vocab = {piece: i for i, (piece, _) in enumerate(scores)}
    backend = Tokenizer(models.BPE(vocab, generate_merges(vocab, scores), unk_token=proto.trainer_spec.unk_piece,
                                   fuse_unk=True, byte_fallback=True, dropout=None))
    unknown, control, user_defined = 2, 3, 4  # ModelProto.SentencePiece.Type
    backend.add_tokens([AddedToken(p.piece, normalized=False, special=False)
                        for p in proto.pieces if p.type == user_defined])
    backend.add_special_tokens([AddedToken(p.piece, normalized=False, special=True)
                                for p in proto.pieces if p.type in (unknown, control)])
    if legacy:
        backend.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    else:
        backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    backend.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                         decoders.Strip(content=" ", left=1)])
    return backend
