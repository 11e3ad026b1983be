"""The metric kernels' numba cache follows the sources of every kernel module, not only the
file that defines each kernel (`wsol.metrics._compiled`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from wsol.metrics import _compiled

ROOT = Path(__file__).resolve().parents[2]


def _cached_files(folder: Path, module: str) -> list[Path]:
    names = [f"{module}.kernel-10.py311.nbi", f"{module}.kernel-10.py311.1.nbc"]
    for name in names:
        (folder / name).write_bytes(b"cached")
    return [folder / name for name in names]


def test_a_cache_without_the_current_stamp_loses_every_kernel_module_s_files(tmp_path):
    ours = [path for module in _compiled.KERNEL_MODULES for path in _cached_files(tmp_path, module)]
    theirs = _cached_files(tmp_path, "other_package")  # not a kernel module of ours: kept
    assert sorted(_compiled.refresh_cache(tmp_path)) == sorted(ours)
    assert not any(path.exists() for path in ours)
    assert all(path.exists() for path in theirs)
    assert _compiled.stamp_matches(tmp_path)
    kept = _cached_files(tmp_path, "_sweep")  # compiled from the current sources
    assert _compiled.refresh_cache(tmp_path) == []
    assert all(path.exists() for path in kept)


def test_a_stamp_of_other_sources_loses_the_kernels(tmp_path):
    _compiled.refresh_cache(tmp_path)
    (tmp_path / _compiled.STAMP_NAME).write_text("f" * 64 + "\n")
    assert not _compiled.stamp_matches(tmp_path)
    stale = _cached_files(tmp_path, "_components")
    assert sorted(_compiled.refresh_cache(tmp_path)) == sorted(stale)
    assert (tmp_path / _compiled.STAMP_NAME).read_text().strip() == _compiled.sources_digest()


def test_the_digest_covers_every_kernel_module(monkeypatch, tmp_path):
    here = Path(_compiled.__file__).parent
    modules = (*_compiled.KERNEL_MODULES, "_compiled")  # the compile options count too
    for module in modules:
        shutil.copy(here / f"{module}.py", tmp_path / f"{module}.py")
    monkeypatch.setattr(_compiled, "__file__", str(tmp_path / "_compiled.py"))
    original = _compiled.sources_digest()
    assert original == _compiled.sources_digest()
    seen = {original}
    for module in modules:  # a callee's edit changes the digest too
        path = tmp_path / f"{module}.py"
        text = path.read_text()
        path.write_text(text + "\n# edited\n")
        seen.add(_compiled.sources_digest())
        path.write_text(text)
    assert len(seen) == len(modules) + 1
    assert _compiled.sources_digest() == original


def _import_kernels(cache_dir: Path) -> str:
    """Import the kernel modules in a fresh process with ``NUMBA_CACHE_DIR``; returns the
    cache folder numba uses for them."""
    code = "from wsol.metrics import _sweep; print(_sweep.box_flags_maps._cache.cache_path)"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.mark.slow  # two interpreters importing numba
def test_importing_the_kernels_refreshes_numba_s_cache_folder_first(tmp_path):
    folder = Path(_import_kernels(tmp_path))
    assert folder.is_relative_to(tmp_path) and _compiled.stamp_matches(folder)
    # Kernels cached by older sources (here: files under a stamp of other sources) are gone
    # after the next import, before anything could load them.
    (folder / _compiled.STAMP_NAME).write_text("0" * 64 + "\n")
    stale = _cached_files(folder, "_sweep") + _cached_files(folder, "_rings")
    assert _import_kernels(tmp_path) == str(folder)
    assert not any(path.exists() for path in stale)
    assert _compiled.stamp_matches(folder)


def test_with_numba_s_jit_disabled_the_kernels_are_python_and_nothing_is_refreshed(tmp_path):
    code = (
        "from wsol.metrics import _compiled, _sweep; "
        "assert not hasattr(_sweep.box_flags_maps, '_cache'); print(sorted(_compiled._refreshed))"
    )
    env = {
        **os.environ,
        "NUMBA_DISABLE_JIT": "1",
        "NUMBA_CACHE_DIR": str(tmp_path),
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "['']" and not any(tmp_path.iterdir())


def test_a_cache_folder_that_cannot_be_written_warns_and_the_kernels_still_load(
    monkeypatch, tmp_path
):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(_compiled.tempfile, "mkstemp", refuse)
    monkeypatch.setattr(_compiled, "_refreshed", set())
    kernel = SimpleNamespace(_cache=SimpleNamespace(cache_path=str(tmp_path)))
    with pytest.warns(RuntimeWarning, match=f"could not check the cached kernels in {tmp_path}"):
        _compiled._follow_sources(kernel)
    assert _compiled._refreshed == {str(tmp_path)}  # tried once per process
