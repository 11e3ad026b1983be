"""The console scripts bound OpenMP spinning and keep freed memory (glibc), unless the
environment already decides it."""

from __future__ import annotations

import ctypes.util
import os
import subprocess
import sys

import pytest

from tests.helpers.cli import SCRIPTS
from wsol.cli import keep_freed_memory, limit_openmp_spinning


def test_spin_count_is_bounded_by_default():
    environ: dict[str, str] = {}
    limit_openmp_spinning(environ)
    assert environ == {"GOMP_SPINCOUNT": "10000"}


def test_an_explicit_setting_wins():
    environ = {"GOMP_SPINCOUNT": "300000"}
    limit_openmp_spinning(environ)
    assert environ == {"GOMP_SPINCOUNT": "300000"}
    environ = {"OMP_WAIT_POLICY": "ACTIVE"}
    limit_openmp_spinning(environ)
    assert environ == {"OMP_WAIT_POLICY": "ACTIVE"}


@pytest.mark.skipif(
    sys.platform != "linux" or "libc.so" not in str(ctypes.util.find_library("c")),
    reason="glibc only",
)
def test_freed_memory_is_kept_on_glibc():
    assert keep_freed_memory({})  # what the console scripts do at import


def test_malloc_settings_of_the_environment_or_another_libc_win():
    for name in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES"):
        assert not keep_freed_memory({name: "1"})
    assert not keep_freed_memory({}, libc_name="libc-that-does-not-exist.so")


@pytest.mark.slow
def test_the_installed_script_runs_as_a_fresh_process(tmp_path):
    """The suite forks console scripts from a pre-imported server (tests/helpers/cli_fork.py);
    this one runs the installed ``wsol-train`` executable itself, as a user does: its own
    interpreter imports everything and refuses a bad config before any run folder."""
    env = {**os.environ, "WSOL_DATA_DIR": str(tmp_path / "d"), "WSOL_LOG_DIR": str(tmp_path / "l")}
    result = subprocess.run(
        [str(SCRIPTS / "wsol-train"), "module.optimizer.lr=-1"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    assert "module.optimizer.lr: must be a number > 0, got -1" in result.stdout + result.stderr
    assert not (tmp_path / "l").exists()
