"""``datasets<4`` running ``hf_datasets/rexrank/rexrank.py`` as a loading script
(``trust_remote_code=True``), the route the dataset card gives for old ``datasets``.
The script imports ``rexrank.datasets``, which ``scripts/oracle_env.sh`` installs into the oracle
venv from this checkout (without dependencies), as a user of old ``datasets`` installs ``rexrank``."""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
FIELDS = ("study_id", "image_paths", "views", "key_image_path", "indication", "comparison", "age", "sex",
          "findings", "impression", "report")


def run(config, split, manifest, cache_dir):
    import datasets

    ds = datasets.load_dataset(os.path.join(ROOT, "hf_datasets", "rexrank"), config, split=split,
                               trust_remote_code=True, manifest_files={split: manifest}, cache_dir=cache_dir)
    return {"datasets": datasets.__version__, "rows": [{k: row[k] for k in FIELDS} for row in ds]}
