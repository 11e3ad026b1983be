"""The console scripts bound OpenMP spinning and keep freed memory (glibc), unless the
environment already decides it."""

from __future__ import annotations

import ctypes.util
import sys

import pytest

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
