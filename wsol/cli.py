"""Console entry points: thin Hydra mains over wsol.tasks."""

from __future__ import annotations

import ctypes
import os


def limit_openmp_spinning(environ=os.environ) -> None:
    """Bound how long torch's idle OpenMP threads spin (``GOMP_SPINCOUNT=10000``).

    libgomp (torch's OpenMP on Linux wheels) spins for about 300k iterations (milliseconds)
    between parallel regions before a thread sleeps. On a machine whose cores are busy with
    other work, training with two threads then spins instead of computing (on 2 busy cores the
    default CAM's training step took 1.3-2.7x the wall time of 10k spins, for the same
    computation and numbers). Must run before torch loads libgomp; an explicit
    ``GOMP_SPINCOUNT`` or ``OMP_WAIT_POLICY`` wins.
    """
    if "OMP_WAIT_POLICY" not in environ:
        environ.setdefault("GOMP_SPINCOUNT", "10000")


# glibc mallopt parameters and the environment variables that set them instead.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MALLOC_ENV = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES")
# The largest mmap threshold glibc accepts on 64-bit systems (HEAP_MAX_SIZE / 2).
KEEP_BLOCKS_BELOW = 32 * 2**20
KEEP_FREED_UP_TO = 2**30


def keep_freed_memory(environ=os.environ, libc_name: str = "libc.so.6") -> bool:
    """Let glibc keep freed memory for reuse instead of handing it back to the kernel.

    By default glibc serves blocks above its (adaptive) mmap threshold with fresh mappings and
    returns free heap memory above a trim threshold at every ``free``: a training step's
    activations (tens of MB on the default CAM) are then unmapped and faulted in again, page
    by page, at each step (3.6 million page faults and 6.7 of 61 CPU s in system time for the
    default ``wsol-train`` on one thread, against 0.25 million and 1.2 s with this). Blocks
    below :data:`KEEP_BLOCKS_BELOW` come from the heap and up to :data:`KEEP_FREED_UP_TO` of
    free heap is kept; the numbers computed do not change. No-op off glibc and where the
    environment sets glibc's own malloc variables. Returns whether it applied.
    """
    if any(name in environ for name in _MALLOC_ENV):
        return False
    try:
        mallopt = ctypes.CDLL(libc_name).mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS, Windows)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(
        mallopt(_M_TRIM_THRESHOLD, KEEP_FREED_UP_TO)
        and mallopt(_M_MMAP_THRESHOLD, KEEP_BLOCKS_BELOW)
    )


limit_openmp_spinning()
keep_freed_memory()

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from wsol.configuration.compose import CONFIG_DIR  # noqa: E402
from wsol.configuration.resolvers import register_resolvers  # noqa: E402

register_resolvers()


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def train(cfg: DictConfig) -> float | None:
    """``wsol-train``: returns the optimized metric so sweepers can read it.

    SIGTERM/SIGINT end it with status 128 + signal (143, 130) after keeping a resumable
    ``last.ckpt``: a scheduler or a sweep never counts an interrupted run as a success.
    """
    from wsol.tasks import compile_ahead

    if cfg.get("train", True):  # first thing: beside the imports below and data generation
        compile_ahead.start()
    from wsol.tasks.hparams import optimized_metric_name, optimized_value
    from wsol.tasks.interrupt import RunInterrupted
    from wsol.tasks.train import train as run

    name = optimized_metric_name(cfg)
    try:
        metrics = run(cfg)
    except RunInterrupted as interrupted:
        raise SystemExit(interrupted.exit_code) from interrupted
    return optimized_value(name, metrics)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
def evaluate(cfg: DictConfig) -> None:
    """``wsol-eval``: a checkpoint on a split, or saved score maps against metadata."""
    from wsol.tasks.evaluate import evaluate as run

    run(cfg)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="predict")
def predict(cfg: DictConfig) -> None:
    """``wsol-predict``: classes, boxes and overlays for new images.

    Exits with status 1 when some input files could not be read (after writing the outputs of
    the others); Hydra ignores a main's return value, hence SystemExit.
    """
    from wsol.tasks.predict import predict as run

    summary = run(cfg)
    if summary.failed:
        raise SystemExit(1)
