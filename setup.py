"""The package list, which pyproject.toml cannot express alone: every ``wsol*`` package plus
``wsol.configs``, the repository's top-level ``configs/`` folder shipped as package data (its
groups as sub-packages, ``local/`` left out). A clone keeps ``configs/`` where users look for
it; an installed wheel carries the same files as ``wsol/configs/``, where
:func:`wsol.configuration.compose.find_config_dir` finds them."""

from setuptools import find_namespace_packages, find_packages, setup

CONFIG_GROUPS = find_namespace_packages(where="configs", exclude=["local", "local.*"])

setup(
    packages=[
        *find_packages(include=["wsol", "wsol.*"]),
        "wsol.configs",
        *(f"wsol.configs.{group}" for group in CONFIG_GROUPS),
    ],
    package_dir={"wsol.configs": "configs"},
)
