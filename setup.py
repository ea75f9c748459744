"""Packages for setuptools: the repository's folders, each installed under the one import name ``rexrank``.

The mapping lives in pyproject.toml (``[tool.setuptools.package-dir]``); this file only lists the
sub-packages below each mapped folder, so a new sub-package needs no edit here. Folders without an
``__init__.py`` (the evaluate module folders, recipes, static files) are namespace packages: listing
them keeps setuptools from warning that their files "would be ignored" (their data ships either way).
"""

try:
    import tomllib
except ImportError:  # Python 3.10: pyproject.toml's build requirements add tomli
    import tomli as tomllib
from pathlib import Path

from setuptools import find_namespace_packages, setup

here = Path(__file__).resolve().parent
roots = tomllib.loads((here / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
packages = [name for name in roots]
for name, folder in roots.items():
    packages += [f"{name}.{sub}" for sub in find_namespace_packages(str(here / folder), exclude=["*__pycache__*"])]
setup(packages=sorted(set(packages)))
