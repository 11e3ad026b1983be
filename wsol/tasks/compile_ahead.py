"""Compile the metric kernels in a background process before a run needs them.

numba compiles the metric kernels on their first use and caches them (next to the package,
or under ``NUMBA_CACHE_DIR``); on a fresh clone that takes about 15 CPU seconds. A run that
starts it in the background at once (`start`) overlaps it with its imports, data generation
and first epoch instead of stopping at its first validation. Light on purpose: importing
this module imports neither torch nor the kernels, so ``wsol-train`` calls it first thing: the
Hydra callback `StartWhenTraining` (first of ``hydra.callbacks``) as the run begins, before
the config validation's imports (about 5 s of them); the run takes the process over
(`take`) and waits for it before its first evaluation, and a run refused before that ends it.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from wsol.metrics import _compiled

# A kernel every evaluation compiles: its cache index exists once the kernels are cached.
_INDEX_GLOB = "_sweep.box_flags_maps-*.nbi"
_started: subprocess.Popen | None = None
# LLVM optimization level of the background compilation (NUMBA_OPT), unless the user set one.
# At -O1 the kernels compile in about a quarter less CPU time than at numba's default -O3 and
# run as fast (2-core VM: 10.7 against 14.1 CPU s; MaxBoxAccV2 28-30 against 29-32 ns/pixel,
# PxAP 0.9-1.0 against 1.2-1.3), and the cached code is what every later run loads.
KERNEL_OPT_LEVEL = "1"


def kernels_cached() -> bool:
    """Whether numba's cache (package or NUMBA_CACHE_DIR) holds the box-sweep kernel, built
    from the current kernel sources (`wsol.metrics._compiled`: a stamp beside it names
    them). After a kernel module changed, the cached kernels are deleted at their next
    import and compile again: not cached, so a run compiles them in the background."""
    package = Path(__file__).resolve().parents[1] / "metrics" / "__pycache__"
    indexes = list(package.glob(_INDEX_GLOB))
    cache_dir = os.environ.get("NUMBA_CACHE_DIR")
    if not indexes and cache_dir:
        indexes = list(Path(cache_dir).rglob(_INDEX_GLOB))
    return any(_compiled.stamp_matches(index.parent) for index in indexes)


def _rank_zero() -> bool:
    """Not a second process of a multi-process run (those find the kernels compiled)."""
    names = ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID")
    return all(os.environ.get(name, "0") == "0" for name in names)


def start(evaluation_only: bool = True) -> subprocess.Popen | None:
    """Start ``python -m wsol.metrics.warmup [--evaluation]`` (single-threaded, quiet, at
    `KERNEL_OPT_LEVEL`) unless the kernels are cached, this is not rank 0, or one was started
    already; returns it."""
    global _started
    if _started is not None or not _rank_zero() or kernels_cached():
        return None
    _started = subprocess.Popen(
        [sys.executable, "-m", "wsol.metrics.warmup", *(["--evaluation"] * evaluation_only)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={
            **os.environ,
            "OMP_NUM_THREADS": "1",
            "WSOL_METRIC_THREADS": "1",
            "NUMBA_OPT": os.environ.get("NUMBA_OPT", KERNEL_OPT_LEVEL),
        },
    )
    return _started


def take() -> subprocess.Popen | None:
    """The process `start` began (once: the caller waits for it), or None."""
    global _started
    process, _started = _started, None
    return process


def _stop_unclaimed() -> None:
    """At exit: end a compilation no run took over (the run was refused before it began)."""
    if _started is not None and _started.poll() is None:
        _started.terminate()


atexit.register(_stop_unclaimed)


class StartWhenTraining(Callback):
    """Hydra callback (first of ``hydra.callbacks``): `start` as a single run that trains
    (``train: true``, wsol-train) begins, before the callbacks after it validate the config,
    which imports torch, Lightning and every target (seconds on a small machine) while the
    second core would wait. Runs that evaluate only, and multiruns, start nothing here."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        if config.get("train") is True:
            start()
