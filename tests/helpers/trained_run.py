"""One short training per set of overrides, shared by every test of a test run that needs it.

The monitoring tests (TensorBoard events), ``wsol-predict`` and ``wsol-eval``'s curve files
all read the same run folder. A session fixture would live once per pytest-xdist worker (and
in the top-level conftest); this cache lives in the folder the workers share, so a run is
trained once per test run whichever worker asks first: the others wait for it on a file lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
from pathlib import Path

import pytest

from tests.conftest import compose_config
from tests.helpers.small_run import SMALL_RUN


def shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The temporary folder of this test run that every pytest-xdist worker sees.

    Under xdist each worker's base folder is ``<run>/popen-gw<N>``; without it, the base folder.
    """
    base = tmp_path_factory.getbasetemp()
    return base.parent if base.name.startswith("popen-gw") else base


def shared_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data folder of the shared runs (the synthetic benchmark is generated there; its
    generation is atomic, so two workers may generate one set at once)."""
    return shared_root(tmp_path_factory) / "shared_data"


def trained_run(tmp_path_factory: pytest.TempPathFactory, overrides: tuple[str, ...] = ()) -> Path:
    """The output folder of ``wsol-train`` with :data:`SMALL_RUN` + ``overrides``.

    Trained once per test run and set of overrides (a finished run has its ``metrics.json``);
    the data are generated once per test run. Read the folder; copy before writing into it.
    """
    key = hashlib.sha256("\n".join(overrides).encode()).hexdigest()[:12]
    root = shared_root(tmp_path_factory) / "trained_runs" / key
    root.mkdir(parents=True, exist_ok=True)
    output_dir = root / "run"
    with open(root / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not (output_dir / "metrics.json").is_file():
            from wsol.tasks import run_folder
            from wsol.tasks.train import train

            shutil.rmtree(output_dir, ignore_errors=True)  # what a failed attempt left
            data_dir = shared_data_dir(tmp_path_factory)
            cfg = compose_config("train", [*SMALL_RUN, *overrides], root, data_dir=data_dir)
            train(cfg)
            assert Path(cfg.paths.output_dir) == output_dir
            run_folder.release(output_dir)  # as when a training process ends: for every worker
    return output_dir
