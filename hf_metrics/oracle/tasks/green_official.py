"""GREEN's official inference loop (Stanford-AIMI/GREEN @ d72c195, green_score/green.py), on transformers 4.x.

``green_score`` itself does not install here (its metadata demands Python 3.12.1), so this
reproduces, step for step, ``GREEN.__init__`` (tokenizer kwargs, chat template, pad = eos,
clean-up spaces), ``make_prompt``, ``tokenize_batch_as_chat``, ``get_response`` (generate with
``max_length``, greedy, batch of 8 in input order) and ``clean_responses``. Only the dtype is
a parameter (the official code loads fp16 even on CPU; the parity test runs both sides in fp32), and
``device_map={"": "cpu"}`` is left out (it needs accelerate; CPU is the default anyway).
"""

CHAT_TEMPLATE = "{% for message in messages %}\n{% if message['from'] == 'human' %}\n{{ '<|user|>\n' + message['value'] + eos_token }}\n{% elif message['from'] == 'system' %}\n{{ '<|system|>\n' + message['value'] + eos_token }}\n{% elif message['from'] == 'gpt' %}\n{{ '<|assistant|>\n'  + message['value'] + eos_token }}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}"


def make_prompt(template, text1, text2, max_len=300):
    text1 = " ".join(text1.split()[:max_len])
    text2 = " ".join(text2.split()[:max_len])
    # the official f-string inserts both texts verbatim (a report holding a placeholder stays as it is)
    head, rest = template.split("<<REFERENCE>>")
    middle, tail = rest.split("<<CANDIDATE>>")
    return head + text1 + middle + text2 + tail


def clean_responses(response):
    if "[Explanation]:" in response:
        if "<|assistant|>" in response:
            response = response.split("<|assistant|>")[-1]
        if ("[Explanation]:\n    <Explanation>\n" or "[Explanation]:\n<Explanation>") in response:
            response = response.split("[Explanation]:")[1]
        else:
            response = response.split("[Explanation]:")[-1]
    if "<|assistant|>" in response:
        response = response.split("<|assistant|>")[-1]
    return response.replace("</s>", "").replace("<unk>", "")


def load(model_dir, dtype, tokenizer_dir=None):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir, trust_remote_code=True,
                                                 torch_dtype=getattr(torch, dtype)).eval()
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir or model_dir, add_eos_token=True, use_fast=True, trust_remote_code=True,
                                              padding_side="left")
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.pad_token = tokenizer.eos_token
    tokenizer.clean_up_tokenization_spaces = True
    return model, tokenizer


def encode(tokenizer, prompts, max_length):
    batch = [[{"from": "human", "value": p}, {"from": "gpt", "value": ""}] for p in prompts]
    texts = [tokenizer.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in batch]
    return texts, tokenizer.batch_encode_plus(texts, return_tensors="pt", padding=True, truncation=True,
                                              max_length=max_length)


def run(model_dir, template, references, predictions, max_length=2048, batch_size=8, dtype="float32",
        generate=True, tokenizer_dir=None):
    import torch

    model, tokenizer = load(model_dir, dtype, tokenizer_dir)
    prompts = [make_prompt(template, r, p) for r, p in zip(references, predictions)]
    rendered, input_ids, completions = [], [], []
    for start in range(0, len(prompts), batch_size):
        texts, batch = encode(tokenizer, prompts[start:start + batch_size], max_length)
        rendered += texts
        input_ids += [[i for i, m in zip(row, mask) if m] for row, mask in
                      zip(batch["input_ids"].tolist(), batch["attention_mask"].tolist())]
        if not generate:
            continue
        with torch.inference_mode():
            outputs = model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                     eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                                     max_length=max_length, do_sample=False, temperature=None, top_p=None)
        completions += [clean_responses(r) for r in tokenizer.batch_decode(outputs, skip_special_tokens=True)]
    return {"rendered": rendered, "input_ids": input_ids, "completions": completions}
