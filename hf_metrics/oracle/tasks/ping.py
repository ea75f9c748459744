"""Health check: the oracle's own package versions."""


def run():
    import importlib.metadata as md

    versions = {}
    for dist in ["torch", "transformers", "bert-score", "fast-bleu", "radgraph", "f1chexbert", "RaTEScore",
                 "medspacy", "numpy"]:
        try:
            versions[dist] = md.version(dist)
        except md.PackageNotFoundError:
            versions[dist] = None
    return versions
