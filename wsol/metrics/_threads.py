"""How many threads the compiled metric kernels use, and a pool to run them on.

Maps of a batch are independent, so `run_blocks` hands out blocks of maps to up to N
threads (the calling thread included); each thread owns its count buffers, summed at the
end, so the counts are identical whatever N is. The kernels release the GIL (numba
``nogil``). Blocks are claimed one at a time: on a busy machine a thread that is not
scheduled simply takes fewer blocks, and the caller never waits for more than the one
block a helper holds.

N defaults to the number of CPU cores this process may run on. Override it with the
environment variable ``WSOL_METRIC_THREADS`` (read on first use; 1 = no helper thread) or
with `set_num_threads`. Python threads rather than numba's ``parallel=True``: numba's
OpenMP layer cannot be used again in a forked child and its workqueue layer cannot be
called from two threads at once, while this pool is recreated after a fork.
"""

from __future__ import annotations

import itertools
import os
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

ENV_VAR = "WSOL_METRIC_THREADS"

_lock = threading.Lock()
_n_threads: int | None = None
_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _from_env() -> int:
    raw = os.environ.get(ENV_VAR, "").strip()
    if not raw:
        return available_cores()
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        warnings.warn(
            f"{ENV_VAR}={raw!r} is not a positive integer; using {available_cores()} threads",
            stacklevel=3,
        )
        return available_cores()
    return value


def get_num_threads() -> int:
    """Threads the metric kernels use (`set_num_threads`, else ``WSOL_METRIC_THREADS``,
    else the available cores)."""
    global _n_threads
    if _n_threads is None:
        _n_threads = _from_env()
    return _n_threads


def set_num_threads(n: int | None) -> None:
    """Use ``n`` threads (>= 1) in the metric kernels; None: back to the default."""
    global _n_threads
    if n is None:
        _n_threads = None
        return
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"the number of metric threads must be an integer >= 1, got {n!r}")
    _n_threads = n


def _executor(helpers: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < helpers:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(helpers, thread_name_prefix="wsol-metrics")
            _pool_size = helpers
        return _pool


def _forget_pool() -> None:  # a forked child has none of the parent's threads
    global _pool, _pool_size, _lock
    _pool, _pool_size, _lock = None, 0, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def run_blocks(n_items: int, block: int, work: Callable[[int, int, int], None]) -> int:
    """Call ``work(lo, hi, slot)`` for every block [lo, hi) of ``range(n_items)``.

    ``slot`` (0 <= slot < the returned count) names the thread running the call: calls
    with the same slot never overlap, so per-slot buffers need no locking. Blocks are
    claimed dynamically by up to `get_num_threads` threads. Exceptions propagate.

    Returns:
        The number of slots allocated (buffers ``[0, count)`` may have been written).
    """
    n_blocks = -(-n_items // block) if n_items > 0 else 0
    n_threads = min(get_num_threads(), n_blocks)
    claims = itertools.count()  # next() is atomic under the GIL

    def worker(slot: int) -> None:
        while True:
            b = next(claims)
            if b >= n_blocks:
                return
            work(b * block, min(n_items, (b + 1) * block), slot)

    if n_threads <= 1:
        worker(0)
        return 1
    futures = [_executor(n_threads - 1).submit(worker, s) for s in range(1, n_threads)]
    try:
        worker(0)
    finally:
        errors = [f.exception() for f in futures]
    for error in errors:
        if error is not None:
            raise error
    return n_threads
