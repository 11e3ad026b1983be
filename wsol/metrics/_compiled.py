"""How the metric kernels are compiled, and a numba cache that follows every kernel source.

Every kernel is compiled by numba, cached on disk (``cache=True``: next to the package, or
under ``NUMBA_CACHE_DIR``) and releases the GIL (``nogil=True``, for `_threads`): `kernel`,
or `inline_kernel` for the small helpers inlined into their callers.

Why the stamp: numba keys a cached kernel by its own source file only. A kernel compiled
with code of other modules (``_sweep`` inlines ``_components``, ``_levels`` and ``_pixels``)
would keep loading the old machine code after one of those modules changed, silently. So
the cache directory holds `STAMP_NAME`, the digest of every kernel module's source and of
this module's compile options (`sources_digest`). When a process defines its first kernel and
the stamp differs (or is missing while cached kernels exist), the cached kernels of those
modules are deleted before any is loaded, and the new digest is written: they compile again at
first use.

This module imports numba only when a kernel is defined, so `wsol.tasks.compile_ahead` can
compare the stamp without the kernels' imports. A process that loaded older sources before
they changed (a notebook kernel left running) can still save their code after the refresh;
restart it after editing the kernels.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from pathlib import Path

# The modules holding compiled code, in the order their sources enter the digest.
KERNEL_MODULES = ("_rings", "_levels", "_components", "_pixels", "_sweep")
# File in the cache directory: the digest of the sources the cached kernels were built from.
STAMP_NAME = "wsol-metric-kernels.sha256"

_refreshed: set[str] = set()  # cache directories checked by this process


def sources_digest() -> str:
    """sha256 over the source files of `KERNEL_MODULES` and of this module, which holds the
    compile options (name and bytes of each)."""
    digest = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in (*KERNEL_MODULES, "_compiled"):
        digest.update(name.encode() + b"\0")
        digest.update((here / f"{name}.py").read_bytes())
    return digest.hexdigest()


def stamp_matches(cache_dir: str | Path) -> bool:
    """Whether ``cache_dir``'s stamp names the current kernel sources."""
    try:
        return (Path(cache_dir) / STAMP_NAME).read_text().strip() == sources_digest()
    except OSError:
        return False


def refresh_cache(cache_dir: str | Path) -> list[Path]:
    """Delete the cached kernels (``<module>.*.nbi`` / ``.nbc`` of `KERNEL_MODULES`) in
    ``cache_dir`` unless its stamp matches the sources, then write the stamp; returns the
    deleted files. Other files (other packages' kernels) are left alone."""
    cache_dir = Path(cache_dir)
    if stamp_matches(cache_dir):
        return []
    deleted = []
    for name in KERNEL_MODULES:
        for pattern in (f"{name}.*.nbi", f"{name}.*.nbc"):
            for path in cache_dir.glob(pattern):
                path.unlink(missing_ok=True)  # another process may have deleted it first
                deleted.append(path)
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Written whole (temporary file, then rename): a concurrent reader sees old or new.
    handle, temporary = tempfile.mkstemp(dir=cache_dir, prefix=STAMP_NAME, suffix=".tmp")
    with os.fdopen(handle, "w") as stamp:
        stamp.write(sources_digest() + "\n")
    os.replace(temporary, cache_dir / STAMP_NAME)
    return deleted


def _follow_sources(dispatcher) -> None:
    """Refresh the cache directory of ``dispatcher`` once per process (`refresh_cache`)."""
    from numba import config

    if config.DISABLE_JIT:  # NUMBA_DISABLE_JIT=1: plain Python functions, nothing cached
        _refreshed.add("")
        return
    cache = getattr(dispatcher, "_cache", None)  # numba's FunctionCache of the kernel
    path = getattr(cache, "cache_path", None)
    if path is None:
        warnings.warn(
            "wsol.metrics: this numba version does not expose a kernel's cache directory; "
            "after editing a kernel module, delete the cached kernels (*.nbi, *.nbc) by hand",
            RuntimeWarning,
            stacklevel=3,
        )
        _refreshed.add("")
        return
    if str(path) not in _refreshed:
        _refreshed.add(str(path))
        try:
            refresh_cache(path)
        except OSError as error:  # numba itself runs on when it cannot write its cache
            warnings.warn(
                f"wsol.metrics: could not check the cached kernels in {path} against their "
                f"sources ({error}); delete its *.nbi and *.nbc files after editing a kernel",
                RuntimeWarning,
                stacklevel=3,
            )


def _compile(fn, **options):
    """numba's cached, GIL-free compilation of ``fn``; the first one of a process refreshes
    the cache folder (`refresh_cache`) before any kernel is loaded from it."""
    from numba import njit

    dispatcher = njit(cache=True, nogil=True, **options)(fn)
    if not _refreshed:
        _follow_sources(dispatcher)
    return dispatcher


def kernel(fn):
    """A compiled, cached, GIL-free kernel."""
    return _compile(fn)


def inline_kernel(fn):
    """`kernel`, inlined into its compiled callers."""
    return _compile(fn, inline="always")
