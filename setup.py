"""The package list, which pyproject.toml cannot express alone: every ``wsol*`` package plus
``wsol.configs``, which is the repository's top-level ``configs/`` folder shipped as package
data. A clone keeps ``configs/`` where users look for it; an installed wheel carries the same
files as ``wsol/configs/`` (found by :mod:`wsol.utils.compose`)."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["wsol", "wsol.*"]), "wsol.configs"],
    package_dir={"wsol.configs": "configs"},
)
