"""Hydra's config files read once per test process instead of once per composition.

The workers compose about 650 configs per test run (each option of each group, every experiment,
every `make_config`), and about 40 % of a composition is Hydra opening and parsing YAML files it
parsed the composition before. `install` keeps what Hydra's file and package config sources
return, keyed by the source, the file and (for a file on disk) its bytes, so an edited or
replaced file is parsed again, and hands every caller a deep copy, so a composition sees exactly
what a fresh read gives (`tests/configs/test_config_memo.py` composes the three tasks and options
read from every kind of source both ways). A read that fails is not kept: it fails again, with
Hydra's own error.
"""

from __future__ import annotations

import contextlib
import copy
import os

from hydra._internal.sources_registry import SourcesRegistry
from hydra.core.plugins import Plugins

_READS: dict[tuple, object] = {}
_ORIGINAL: dict[type, object] = {}


def _file_version(source, config_path: str) -> bytes | None:
    """The bytes of the file Hydra would open (None: unreadable, Hydra raises its own error).
    Its content, not its stat: two writes within one clock tick can leave size, mtime and
    inode alike."""
    full = os.path.realpath(os.path.join(source.path, source._normalize_file_name(config_path)))
    try:
        with open(full, "rb") as file:
            return file.read()
    except OSError:
        return None


def _package_version(source, config_path: str) -> tuple:
    return (source._normalize_file_name(config_path),)  # installed package data does not change


def _remembering(source_type: type, version) -> None:
    original = _ORIGINAL[source_type] = source_type.load_config

    def load_config(self, config_path: str):
        found = version(self, config_path)
        if found is None:
            return original(self, config_path)
        key = (source_type, self.provider, self.path, config_path, found)
        if key not in _READS:
            _READS[key] = original(self, config_path)
        return copy.deepcopy(_READS[key])

    source_type.load_config = load_config


def install() -> None:
    """Remember Hydra's config reads in this process (idempotent)."""
    if not _ORIGINAL:
        # Hydra's first plugin scan executes its config source modules again, defining their
        # classes anew: scan first, then change the classes Hydra resolves its sources with.
        Plugins.instance()
        _remembering(SourcesRegistry.instance().resolve("file"), _file_version)
        _remembering(SourcesRegistry.instance().resolve("pkg"), _package_version)


def files_read() -> int:
    """How many distinct file versions the memo holds."""
    return len(_READS)


def uninstall() -> None:
    """Hydra reads every file again, as without `install`."""
    while _ORIGINAL:
        source_type, original = _ORIGINAL.popitem()
        source_type.load_config = original
    _READS.clear()


@contextlib.contextmanager
def disabled():
    """Within the block, Hydra reads its files as it would without this module."""
    was_installed = bool(_ORIGINAL)
    uninstall()
    try:
        yield
    finally:
        if was_installed:
            install()
