#!/usr/bin/env bash
# Prepare the device check for an air-gapped GPU machine: bash scripts/device_wheels.sh DIR
#
# DIR gets: device_check.py (the entry point), wheels/ (our package built as a wheel, and the
# CPython 3.12 manylinux x86-64 wheels of scripts/device_wheels.txt, downloaded with --no-deps),
# assets/ (the official assets the check reads: the IU-Xray test manifest, GREEN's prompt,
# RaTEScore's matrices and sentence rules, from this machine's asset cache or ../shared/data,
# the rules from the medspacy wheel). Copy DIR to the GPU machine and run `python DIR/device_check.py`.
# Prints the total size; fails above 64 MiB.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: bash scripts/device_wheels.sh DIR" >&2; exit 2; }
cd "$(dirname "$0")/.."
out=$1
py=${PYTHON:-.venv/bin/python}
mkdir -p "$out/wheels" "$out/assets"
rm -f "$out"/wheels/*.whl
grep -v '^\s*#' scripts/device_wheels.txt | grep -v '^\s*$' > "$out/requirements.txt"
"$py" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
  --python-version 3.12 --implementation cp --abi cp312 --abi abi3 --abi none \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_24_x86_64 \
  --platform manylinux_2_27_x86_64 --platform manylinux_2_28_x86_64 --platform any \
  -r "$out/requirements.txt" -d "$out/wheels"
had_build=0; [ -e build ] && had_build=1
"$py" -m pip wheel --quiet --disable-pip-version-check --no-deps -w "$out/wheels" .
[ "$had_build" = 1 ] || rm -rf build  # setuptools' leftovers of our wheel
cp scripts/device_check.py "$out/device_check.py"
# the assets: seeded from ../shared/data (if there) and medspacy 1.3.1's rules, checked against their sha256
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$py" -m pip download --quiet --disable-pip-version-check --no-deps --no-binary=:all: medspacy==1.3.1 -d "$tmp"
"$py" - "$out/assets" "$tmp" "${REXRANK_SHARED:-../shared}/data" <<'PY'
import shutil, sys, tarfile
from pathlib import Path
from rexrank import assets
from rexrank.device_check.main import NEEDED_ASSETS

out, tmp, shared = map(Path, sys.argv[1:])
with tarfile.open(next(tmp.glob("medspacy-1.3.1.tar.gz"))) as sdist:  # the rules file RaTEScore 0.6.0 runs
    (tmp / "rush_rules.tsv").write_bytes(sdist.extractfile("medspacy-1.3.1/resources/en/rush_rules.tsv").read())
assets.seed("ratescore/rush_rules", tmp / "rush_rules.tsv")  # refused unless its sha256 is the pinned one
if shared.is_dir():
    assets.seed_directory(shared)
for name in NEEDED_ASSETS:
    path = assets.fetch(name)  # the cache, else the official source at its pinned commit
    shutil.copyfile(path, out / path.name)
print(f"assets: {', '.join(NEEDED_ASSETS)}")
PY
total=$(du -sb "$out" | cut -f1)
echo "$(ls "$out/wheels" | wc -l) wheels; $out holds $(( total / 1024 / 1024 )) MiB in all ($total bytes)"
[ "$total" -lt $(( 64 * 1024 * 1024 )) ] || { echo "over 64 MiB: too big to carry" >&2; exit 1; }
