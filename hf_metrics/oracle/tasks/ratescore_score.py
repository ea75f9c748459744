"""The official RaTEScore 0.6.0 ``compute_score`` (CPU, its default batch size of 1).

The scorer is built once per (affinity matrix) and kept; it loads the repo ids
``Angelakeke/RaTE-NER-Deberta`` and ``FremyCompany/BioLORD-2023-C`` from the shared HF cache.
Note the official output is shorter than the input when a report has no kept sentence.
Runs on one torch thread (restored afterwards): thousands of tiny batch-1 forward passes are
many times slower with two threads on a busy machine, and the values do not depend on it.
"""

_SCORERS = {}


def run(candidates, references, affinity_matrix="long"):
    import torch
    from RaTEScore import RaTEScore

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        if affinity_matrix not in _SCORERS:
            _SCORERS[affinity_matrix] = RaTEScore(use_gpu=False, affinity_matrix=affinity_matrix)
        return [float(x) for x in _SCORERS[affinity_matrix].compute_score(list(candidates), list(references))]
    finally:
        torch.set_num_threads(threads)
