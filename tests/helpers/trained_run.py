"""One short training per method, shared by every test of a session that needs a trained run.

The monitoring tests (TensorBoard events), ``wsol-predict`` and ``wsol-eval``'s curve files
all read the same run folder. A session fixture would have to live in the top-level
conftest; this module-level cache gives the same sharing from any test module: the first
caller trains, the others get the folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import compose_config
from tests.helpers.small_run import SMALL_RUN

_RUNS: dict[tuple[str, ...], Path] = {}


def trained_run(tmp_path_factory: pytest.TempPathFactory, overrides: tuple[str, ...] = ()) -> Path:
    """The output folder of ``wsol-train`` with :data:`SMALL_RUN` + ``overrides``.

    Trained once per session and set of overrides; the data are generated once per session.
    """
    key = tuple(overrides)
    if key not in _RUNS:
        from wsol.tasks.train import train

        base = tmp_path_factory.getbasetemp()
        root = tmp_path_factory.mktemp("trained_run")
        cfg = compose_config("train", [*SMALL_RUN, *overrides], root, data_dir=base / "shared_data")
        train(cfg)
        _RUNS[key] = Path(cfg.paths.output_dir)
    return _RUNS[key]


def shared_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data folder of the shared runs (the synthetic benchmark is generated there)."""
    return tmp_path_factory.getbasetemp() / "shared_data"
