"""Shared fixtures: composing the project's configs the way the CLI does; one torch thread per
pytest-xdist worker."""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path

# Before anything imports numba: on a clean clone each worker compiles the metric kernels once,
# and at -O1 that costs about a quarter less CPU than numba's -O3, the kernels as fast (the
# level wsol-train's background compilation uses, wsol.tasks.compile_ahead.KERNEL_OPT_LEVEL).
os.environ.setdefault("NUMBA_OPT", "1")

import pytest  # noqa: E402
import torch  # noqa: E402
from hydra.core.global_hydra import GlobalHydra  # noqa: E402
from omegaconf import DictConfig, open_dict  # noqa: E402

from tests.helpers import config_memo  # noqa: E402
from wsol.cli import CONFIG_DIR as _CONFIG_DIR  # noqa: E402
from wsol.configuration.compose import compose_config as compose  # noqa: E402
from wsol.tasks import compile_ahead  # noqa: E402

CONFIG_DIR = Path(_CONFIG_DIR)
# Hydra parses each config file once per test process (`tests.helpers.config_memo`).
config_memo.install()


def pytest_configure(config: pytest.Config) -> None:
    """In a pytest-xdist worker (``pytest -n``, the default): one intra-op thread, for torch here
    and for the console scripts and notebook kernels it starts. The workers already fill the
    cores; two threads per worker would spin against each other."""
    if hasattr(config, "workerinput"):
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        torch.set_num_threads(1)
    elif config.getoption("numprocesses", None) and not compile_ahead.kernels_cached():
        _compile_kernels_once(config)


# Set by the xdist controller while it compiles the metric kernels: the file that says it is done.
_KERNELS_DONE = "WSOL_TEST_KERNELS_DONE"


def _compile_kernels_once(config: pytest.Config) -> None:
    """On a clean checkout, compile every metric kernel once, in wsol-train's background
    compilation (`compile_ahead.start`), begun before the workers (their imports and collection
    run beside it), instead of in each worker and each DDP rank or console script that reaches
    a metric before the cache exists. The workers wait for it before their first test
    (`_kernels_compiled`): a file marks it done."""
    process = compile_ahead.start(evaluation_only=False)
    if process is None:
        return
    done = Path(tempfile.gettempdir()) / f"wsol-test-kernels-{os.getpid()}.done"
    done.unlink(missing_ok=True)
    threading.Thread(target=lambda: (process.wait(), done.touch()), daemon=True).start()
    os.environ[_KERNELS_DONE] = str(done)


def pytest_unconfigure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput") and os.environ.get(_KERNELS_DONE):
        Path(os.environ.pop(_KERNELS_DONE)).unlink(missing_ok=True)


@pytest.fixture(scope="session", autouse=True)
def _kernels_compiled() -> None:
    """Wait (at most 10 minutes) for the controller's kernel compilation, if one runs."""
    done = os.environ.get(_KERNELS_DONE)
    deadline = time.monotonic() + 600
    while done and not Path(done).exists() and time.monotonic() < deadline:
        time.sleep(0.2)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The costly tests first (``ddp``: several processes; then ``slow``), the rest after, each
    group in collection order: the workers share out the long tests while many short ones
    remain to even up their ends, instead of one worker finishing on a long test alone."""

    def cost_rank(item: pytest.Item) -> int:
        return 0 if item.get_closest_marker("ddp") else 1 if item.get_closest_marker("slow") else 2

    items.sort(key=cost_rank)


def compose_config(
    config_name: str, overrides: list[str], tmp_path: Path, data_dir: Path | None = None
) -> DictConfig:
    """``configs/<config_name>.yaml`` with overrides; outputs, logs and data under ``tmp_path``."""
    cfg = compose(config_name, overrides, output_dir=tmp_path / "run", cwd=tmp_path)
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / "run")
        cfg.paths.log_dir = str(tmp_path / "logs")
        cfg.paths.data_dir = str(data_dir or tmp_path / "data")
    return cfg


@pytest.fixture
def no_random_fill(monkeypatch):
    """Built parameters keep their memory instead of random values (most of a real backbone's
    build time). For tests that check what a build reads or wires (a weights file's values,
    shapes, parameter groups, that a config instantiates), never an initialised value; the
    stepped experiment configs (tests/experiments) initialise each backbone x method for real."""
    monkeypatch.setattr(torch.Tensor, "uniform_", lambda self, *args, **kwargs: self)
    monkeypatch.setattr(torch.Tensor, "normal_", lambda self, *args, **kwargs: self)


@pytest.fixture
def make_config(tmp_path):
    """``make_config(name, overrides, data_dir=None)`` → composed DictConfig."""

    def _make(config_name: str, overrides: list[str] | None = None, data_dir: Path | None = None):
        return compose_config(config_name, overrides or [], tmp_path, data_dir)

    yield _make
    GlobalHydra.instance().clear()
