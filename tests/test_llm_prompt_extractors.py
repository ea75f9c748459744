"""The GREEN and FineRadScore extractors read the official sources with ``ast`` and give the
pinned extracted forms byte for byte.

The tests write source files in the shape of the official ones (``make_prompt`` with one
f-string; ``PROMPT_LONG``/``correctionsN`` literals and ``generate_gpt4_response`` with a
``messages=[...]`` call) from the shared extracted text, and check the round trip against the
sha256 that ``rexrank.assets`` pins. Each file also holds code that would fail if executed.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from rexrank.metrics.scorers.fineradscore.prompt import extract_fineradscore_messages
from rexrank.metrics.scorers.green.prompt import extract_green_prompt
from rexrank import assets
from rexrank.errors import AssetError

BOOBY_TRAP = "raise SystemExit('executed the official source: the extractor must only parse it')\n"


def fstring(template: str, placeholders: dict[str, str]) -> str:
    """Python source of an f-string equal to ``template`` with each placeholder as ``{name}``."""
    pieces, rest = [], template
    while rest:
        hits = [(rest.find(marker), name, marker) for name, marker in placeholders.items() if marker in rest]
        if not hits:
            pieces.append("f" + repr(rest).replace("{", "{{").replace("}", "}}"))
            break
        at, name, marker = min(hits)
        if at:
            pieces.append("f" + repr(rest[:at]).replace("{", "{{").replace("}", "}}"))
        pieces.append(f"f'{{{name}}}'")
        rest = rest[at + len(marker):]
    return " ".join(pieces)


def green_utils_source(template: str) -> bytes:
    return (
        "import numpy as np\n" + BOOBY_TRAP +
        "def clean_responses(response):\n    return response\n\n"
        "def make_prompt(text1, text2, max_len=300):\n"
        '    """Creates a prompt."""\n'
        "    text1 = ' '.join(text1.split()[:max_len])\n"
        "    text2 = ' '.join(text2.split()[:max_len])\n"
        f"    prompt = {fstring(template, {'text1': '<<REFERENCE>>', 'text2': '<<CANDIDATE>>'})}\n"
        "    return prompt\n").encode()


def fineradscore_sources(document: dict) -> dict[str, bytes]:
    messages = document["messages"]
    prompt_lines = [BOOBY_TRAP, f"PROMPT_LONG = {messages[0]['content']!r}\n", "JSON_formatting = '{...}'\n"]
    request_items = ["{'role': 'system', 'content': PROMPT_LONG}"]
    n = 0
    for message in messages[1:]:
        if message["role"] == "assistant":
            n += 1
            prompt_lines.append(f"corrections{n} = {json.loads(message['content'])!r}\n")
            request_items.append(f"{{'role': 'assistant', 'content': json.dumps(corrections{n})}}")
        elif "content_template" in message:
            source = fstring(message["content_template"], {"pred_target": "{pred_target}", "gt_target": "{gt_target}"})
            request_items.append(f"{{'role': 'user', 'content': {source}}}")
        else:
            request_items.append(f"{{'role': 'user', 'content': {message['content']!r}}}")
    request = ("import openai\nimport json\nfrom few_shot_prompt import *\n" + BOOBY_TRAP +
               "def generate_gpt4_response(pred_target, gt_target):\n"
               "    response = openai.ChatCompletion.create(engine='gpt4', messages=[\n        " +
               ",\n        ".join(request_items) + "])\n    return response, 0\n\n"
               "def generate_gpt4_response_zeroshot(pred_target, gt_target):\n"
               "    return openai.ChatCompletion.create(engine='gpt4', messages=[{'role': 'user', "
               "'content': PROMPT_LONG + f'Generated Text: {pred_target}'}])\n")
    return {"few_shot_prompt.py": "".join(prompt_lines).encode(), "gpt4_generations.py": request.encode()}


def test_green_prompt_round_trip_is_byte_exact_and_matches_the_pinned_sha(shared_data):
    expected = (shared_data / "prompts" / "green_prompt.txt").read_bytes()
    raw = {"green_score/utils.py": green_utils_source(expected.decode())}
    extracted = extract_green_prompt(raw)
    assert extracted == expected
    asset = assets.get_asset("green/prompt")
    assert hashlib.sha256(assets.extract(asset, raw)).hexdigest() == asset.extracted_sha256
    assert extracted.count(b"<<REFERENCE>>") == 1 and extracted.endswith(b"    ```\n")


def test_fineradscore_messages_round_trip_is_byte_exact_and_matches_the_pinned_sha(shared_data):
    expected = (shared_data / "prompts" / "fineradscore_fewshot_gpt4.json").read_bytes()
    raw = fineradscore_sources(json.loads(expected))
    extracted = extract_fineradscore_messages(raw)
    assert extracted == expected
    asset = assets.get_asset("fineradscore/fewshot")
    assert hashlib.sha256(assets.extract(asset, raw)).hexdigest() == asset.extracted_sha256
    messages = json.loads(extracted)["messages"]
    assert [m["role"] for m in messages] == ["system"] + ["user", "assistant"] * 5 + ["user"]
    assert messages[-1]["content_template"] == "Generated Text: {pred_target} \n \n Ground Truth Text: {gt_target}"
    assert messages[10]["content"] == "{}"  # corrections5 = {}: a report without errors


def test_green_extractor_refuses_a_template_with_code_in_it(shared_data):
    template = (shared_data / "prompts" / "green_prompt.txt").read_text()
    source = green_utils_source(template).decode().replace("f'{text2}'", "f'{__import__(\"os\").getcwd()}'")
    with pytest.raises(AssetError, match="unexpected expression"):
        extract_green_prompt({"green_score/utils.py": source.encode()})
    with pytest.raises(AssetError, match="no top-level function 'make_prompt'"):
        extract_green_prompt({"green_score/utils.py": b"x = 1\n"})
    with pytest.raises(AssetError, match="not among the raw files"):
        extract_green_prompt({"utils.py": b""})


def test_fineradscore_extractor_refuses_unexpected_shapes(shared_data):
    raw = fineradscore_sources(json.loads((shared_data / "prompts" / "fineradscore_fewshot_gpt4.json").read_bytes()))
    with pytest.raises(AssetError, match="missing"):
        extract_fineradscore_messages({"gpt4_generations.py": raw["gpt4_generations.py"]})
    tampered = raw["gpt4_generations.py"].replace(b"json.dumps(corrections2)", b"str(corrections2)")
    with pytest.raises(AssetError, match="unexpected message content"):
        extract_fineradscore_messages({**raw, "gpt4_generations.py": tampered})
    no_call = b"def generate_gpt4_response(pred_target, gt_target):\n    return None\n"
    with pytest.raises(AssetError, match="no `messages="):
        extract_fineradscore_messages({**raw, "gpt4_generations.py": no_call})
