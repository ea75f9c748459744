"""radgraph 0.1.18, the official RadGraph (``model_type`` "radgraph", "radgraph-xl",
"modern-radgraph-xl"), as the parity reference.

Actions:
* ``build``: write a DyGIE model folder (config.json, vocabulary/, weights.th) with the
  package's OWN classes, built exactly as ``RadGraph.__init__`` builds them, so the state-dict
  keys and shapes match by construction; the vocabulary namespaces are ``<model_type>__...``
  as the package's reader asks for them. Final NER / relation scorer layers are scaled and
  their biases shifted (the mention pruner's scaled) so random weights emit a mix of entities
  and relations.
* ``build_modernbert``: a ModernBERT encoder folder (config, byte-level BPE ``tokenizer.json``
  with the ``[CLS] $A [SEP]`` template, random weights), saved by this venv's transformers 4,
  as the real Hub repos were.
* ``annotate``: run ``RadGraph(...)(texts)`` and return, per text, the words, entity and relation
  lists (positions) and the DESIGN §7.5 sets built from the official annotation dict.
* ``score``: the official ``F1RadGraph(reward_level="all")`` rewards, for cross-checks.
* ``bench``: the official pipeline timed (load apart from scoring), with its per-pair F1s.

Also runnable as a script (``python -P radgraph.py '<json request>'``) so builders outside the
oracle process can call it.
"""

import json
import os
import sys

NER_LABELS = ["ANAT-DP", "OBS-DP", "OBS-U", "OBS-DA"]
# radgraph-xl's NER labels in the order of its vocabulary file (two public copies agree);
# modern-radgraph-xl uses the same strings. Order does not matter to either implementation.
XL_NER_LABELS = ["Anatomy::definitely present", "Observation::definitely present", "Observation::definitely absent",
                 "Observation::uncertain", "Observation::measurement::definitely present", "Anatomy::uncertain",
                 "Anatomy::definitely absent", "Anatomy::measurement::definitely present",
                 "Observation::measurement::definitely absent", "Observation::measurement::uncertain",
                 "Anatomy::measurement::uncertain"]
REL_LABELS = ["modify", "located_at", "suggestive_of"]
_MODELS = {}


def _config(encoder, feature_size, max_span_width, hidden_dims):
    bert = {"type": "pretrained_transformer_mismatched", "model_name": encoder, "max_length": 512}
    return {
        "dataset_reader": {"type": "dygie", "max_span_width": max_span_width, "token_indexers": {"bert": dict(bert)}},
        "model": {
            "type": "dygie",
            "embedder": {"token_embedders": {"bert": dict(bert)}},
            "feature_size": feature_size,
            "max_span_width": max_span_width,
            "target_task": "relation",
            "feedforward_params": {"num_layers": 2, "hidden_dims": hidden_dims, "dropout": 0.4},
            "loss_weights": {"ner": 1.0, "relation": 1.0, "coref": 0.0, "events": 0.0},
            "initializer": {"regexes": [["_span_width_embedding.weight", {"type": "xavier_normal"}]]},
            "module_initializer": {"regexes": [[".*weight", {"type": "xavier_normal"}],
                                               [".*weight_matrix", {"type": "xavier_normal"}]]},
            "modules": {
                "ner": {},
                "relation": {"spans_per_word": 0.5},
                "coref": {"spans_per_word": 0.3, "max_antecedents": 100, "coref_prop": 0},
                "events": {"trigger_spans_per_word": 0.3, "argument_spans_per_word": 0.8,
                           "loss_weights": {"trigger": 1.0, "arguments": 2.0}},
            },
        },
    }


def build(model_dir, encoder_dir, encoder_name, seed=0, scale=30.0, ner_bias=-3.0, rel_bias=3.0,
          mention_scale=1.0, feature_size=20, max_span_width=8, hidden_dims=150, model_type="radgraph"):
    import torch
    from dotmap import DotMap
    from radgraph.allennlp.data import Vocabulary
    from radgraph.allennlp.modules import text_field_embedders, token_embedders
    from radgraph.dygie.models import dygie

    os.makedirs(model_dir, exist_ok=True)
    ner_labels = NER_LABELS if model_type == "radgraph" else XL_NER_LABELS
    vocab = Vocabulary()
    for lab in [""] + ner_labels:  # "" must be index 0 (the NER tagger's null label)
        vocab.add_token_to_namespace(lab, f"{model_type}__ner_labels")
    for lab in REL_LABELS:
        vocab.add_token_to_namespace(lab, f"{model_type}__relation_labels")
    vocab.save_to_files(os.path.join(model_dir, "vocabulary"))
    vocab = Vocabulary.from_files(os.path.join(model_dir, "vocabulary"), None, None)

    config = _config(os.path.abspath(encoder_dir), feature_size, max_span_width, hidden_dims)
    cfg = DotMap(json.loads(json.dumps(config)))
    torch.manual_seed(seed)  # before the embedder: radgraph's allennlp builds the encoder from its config, randomly
    emb = token_embedders.PretrainedTransformerMismatchedEmbedder(
        model_name=cfg.model.embedder.token_embedders.bert.model_name,
        max_length=cfg.model.embedder.token_embedders.bert.max_length)
    embedder = text_field_embedders.BasicTextFieldEmbedder({"bert": emb})
    model_dict = cfg.model
    for name in ["type", "embedder", "initializer", "module_initializer"]:
        del model_dict[name]
    model = dygie.DyGIE(vocab=vocab, embedder=embedder, **model_dict)
    with torch.no_grad():
        for name, p in model.named_parameters():
            is_ner = name.startswith("_ner._ner_scorers.") and p.shape[0] == len(ner_labels)
            is_rel = name.startswith("_relation._relation_scorers.")
            if name.startswith("_relation._mention_pruners.") and "._scorer.1." in name:
                p.mul_(mention_scale)  # same pruning order, smaller pair-score offsets
            if is_ner or is_rel:
                p.mul_(scale)
                if name.endswith(".bias"):  # a number, or one per label
                    p.add_(torch.as_tensor(ner_bias if is_ner else rel_bias, dtype=p.dtype))
    torch.save(model.state_dict(), os.path.join(model_dir, "weights.th"))
    # The shipped config names the encoder by its Hub id; both implementations resolve it there.
    config = _config(encoder_name, feature_size, max_span_width, hidden_dims)
    with open(os.path.join(model_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    return model_dir


def build_modernbert(out_dir, seed=0, size="tiny", corpus=()):
    """A ModernBERT-shaped encoder: cased byte-level BPE without a prefix space, ``[CLS] $A [SEP]``,
    special-token ids inside the vocabulary. Tiny: 3 layers (one global, two local attention
    layers with a window of 8, so the sliding window acts on real reports)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import ModernBertConfig, ModernBertModel, PreTrainedTokenizerFast

    os.makedirs(out_dir, exist_ok=True)
    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    texts = [" ".join(WORDS), " ".join(w.capitalize() for w in WORDS), "1 2 3 4 5 cm mm . , ; : ( ) / - %"]
    texts += list(corpus)
    specials = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]
    trainer = trainers.BpeTrainer(vocab_size=400 if size == "tiny" else 8000, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]",
                                   pad_token="[PAD]", mask_token="[MASK]", model_max_length=8192,
                                   model_input_names=["input_ids", "attention_mask"])
    fast.save_pretrained(out_dir)
    dims = (dict(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=2,
                 global_attn_every_n_layers=3, local_attention=8) if size == "tiny" else
            dict(hidden_size=768, intermediate_size=1152, num_hidden_layers=22, num_attention_heads=12,
                 global_attn_every_n_layers=3, local_attention=128))
    config = ModernBertConfig(vocab_size=tok.get_vocab_size(), max_position_embeddings=8192,
                              pad_token_id=tok.token_to_id("[PAD]"), bos_token_id=cls, eos_token_id=sep,
                              cls_token_id=cls, sep_token_id=sep, architectures=["ModernBertForMaskedLM"], **dims)
    torch.manual_seed(seed)
    ModernBertModel(config).save_pretrained(out_dir)
    return out_dir


WORDS = ("no pleural effusion pneumothorax focal consolidation mild moderate small large left right bilateral "
         "heart size normal cardiomediastinal silhouette lungs are clear there is of and with without the "
         "stable unchanged opacity opacities atelectasis cardiomegaly edema lobe lower upper xxxx acute "
         "disease process within limits bony abnormality thoracic spine degenerative changes").split()


def _radgraph(model_cache_dir, model_type="radgraph"):
    key = (model_cache_dir, model_type)
    if key not in _MODELS:
        from radgraph import RadGraph

        _MODELS[key] = RadGraph(model_type=model_type, model_cache_dir=model_cache_dir, cuda=-1)
    return _MODELS[key]


def _readable(annotation):
    """Positions and DESIGN §7.5 sets from one official annotation dict."""
    ents = annotation["entities"]
    entities = [[e["start_ix"], e["end_ix"], e["label"]] for e in ents.values()]
    relations, relation_set = [], set()
    for e in ents.values():
        for kind, target in e["relations"]:
            t = ents[target]
            relations.append([e["start_ix"], e["end_ix"], t["start_ix"], t["end_ix"], kind])
            relation_set.add(((e["tokens"], e["label"]), (t["tokens"], t["label"]), kind))
    entity_set = {(e["tokens"], e["label"]) for e in ents.values()}
    return {"words": annotation["text"].split(" ") if annotation["text"] else [],
            "entities": sorted(entities), "relations": sorted(relations),
            "entity_set": sorted(entity_set), "relation_set": sorted(relation_set)}


def annotate(model_cache_dir, texts, model_type="radgraph"):
    rg = _radgraph(model_cache_dir, model_type)
    try:
        out = rg(list(texts))
        return [_readable(out[str(i)]) for i in range(len(texts))]
    except Exception:  # one bad text fails the batch: redo one by one, reporting failures
        results = []
        for text in texts:
            try:
                results.append(_readable(rg([text])["0"]))
            except Exception as err:
                results.append({"error": f"{type(err).__name__}: {err}"})
        return results


def score(model_cache_dir, predictions, references, model_type="radgraph"):
    """``F1RadGraph(reward_level="all")`` per pair; a batch that crashes the package (a
    whitespace-only report) is redone pair by pair, a failing pair reported as None."""
    from radgraph import F1RadGraph

    key = ("f1", model_cache_dir, model_type)
    if key not in _MODELS:
        _MODELS[key] = F1RadGraph(reward_level="all", model_type=model_type, model_cache_dir=model_cache_dir, cuda=-1)
    f1 = _MODELS[key]
    try:
        _, rewards, _, _ = f1(hyps=list(predictions), refs=list(references))
        return {"simple": rewards[0], "partial": rewards[1], "complete": rewards[2]}
    except Exception:
        out = {"simple": [], "partial": [], "complete": [], "errors": []}
        for p, r in zip(predictions, references):
            try:
                _, rewards, _, _ = f1(hyps=[p], refs=[r])
                values, error = [x[0] for x in rewards], None
            except Exception as err:
                values, error = [None, None, None], f"{type(err).__name__}: {err}"
            for level, v in zip(("simple", "partial", "complete"), values):
                out[level].append(v)
            out["errors"].append(error)
        return out


def _f1(test, retrieved):
    """CXR-Report-Metric's ``compute_f1`` (radgraph_evaluate_model.py)."""
    tp = len(test & retrieved)
    precision = tp / len(retrieved) if retrieved else 0
    recall = tp / len(test) if test else 0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0


def bench(model_cache_dir, predictions, references):
    """Time the official pipeline (load apart from scoring) and return its per-pair RadGraph F1."""
    import time

    from radgraph import F1RadGraph

    start = time.perf_counter()
    scorer = F1RadGraph(reward_level="all", model_type="radgraph", model_cache_dir=model_cache_dir, cuda=-1)
    load = time.perf_counter() - start
    start = time.perf_counter()
    _, _, hyp_annotations, ref_annotations = scorer(hyps=list(predictions), refs=list(references))
    score = time.perf_counter() - start
    entity, relation = [], []
    for hyp, ref in zip(hyp_annotations, ref_annotations):
        h, r = _readable(hyp), _readable(ref)
        entity.append(_f1({tuple(x) for x in r["entity_set"]}, {tuple(x) for x in h["entity_set"]}))
        relation.append(_f1({(tuple(a), tuple(b), k) for a, b, k in r["relation_set"]},
                            {(tuple(a), tuple(b), k) for a, b, k in h["relation_set"]}))
    return {"load": load, "score": score, "entity": entity, "relation": relation,
            "n_empty_pairs_skipped": len(predictions) - len(entity)}


def run(action, **args):
    return {"build": build, "build_modernbert": build_modernbert, "annotate": annotate, "score": score,
            "bench": bench}[action](**args)


if __name__ == "__main__":
    request = json.loads(sys.argv[1])
    print(json.dumps(run(**request)))
