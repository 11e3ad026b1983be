"""The console scripts bound OpenMP spinning unless the environment already decides it."""

from __future__ import annotations

from wsol.cli import limit_openmp_spinning


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
