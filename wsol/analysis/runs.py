"""Named ``wsol-train`` runs for experiment scripts: train once, reuse, evaluate with caching.

A run is a ``wsol-train`` subprocess with a fixed ``run_name``, so its directory is
``<log_dir>/train/runs/<name>`` and a rerun of the script reuses it: a run whose metrics.json
exists is not trained again, one interrupted after a checkpoint resumes from its ``last.ckpt``
(``ckpt_path=last``, an exact resume). The part/whole evaluation of a run's last checkpoint is
cached next to it (``part_whole.json``) and redone when the checkpoint is newer.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from wsol.analysis.acol_branches import erasing_stats, evaluate_branches
from wsol.analysis.part_whole import evaluate_part_whole
from wsol.data.synthetic import read_parts
from wsol.methods import ACoLMethod
from wsol.utils.checkpoint import module_from_checkpoint
from wsol.utils.safe_instantiate import instantiate_stored

log = logging.getLogger("wsol")

WSOL_TRAIN = Path(sys.executable).parent / "wsol-train"
#: Quiet subprocess output: no config dump, no progress bar.
QUIET = [
    "extras.print_config=false",
    "trainer.enable_progress_bar=false",
    "callbacks.progress_bar=null",
]
TIMING_FILE = "train_seconds.json"
EVAL_FILE = "part_whole.json"


def run_dir(log_dir: str | os.PathLike, name: str) -> Path:
    """The directory of ``wsol-train run_name=<name>``."""
    return Path(log_dir) / "train" / "runs" / name


def thread_env(threads: int | None) -> dict[str, str]:
    """Environment variables that limit a subprocess to ``threads`` CPU threads."""
    if threads is None:
        return {}
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    return {"OMP_NUM_THREADS": str(threads), "WSOL_METRIC_THREADS": str(threads)}


def train_run(
    name: str,
    overrides: Sequence[str],
    log_dir: str | os.PathLike,
    output_log: str | os.PathLike | None = None,
    threads: int | None = None,
) -> Path:
    """Train ``wsol-train <overrides> run_name=<name>`` unless it has finished before.

    Args:
        name: run name (directory under ``<log_dir>/train/runs``).
        overrides: Hydra overrides of the run.
        log_dir: the runs' log root (passed to the subprocess as ``WSOL_LOG_DIR``).
        output_log: file receiving the subprocess's stdout and stderr (default
            ``<log_dir>/train/<name>.out``).
        threads: CPU threads of the subprocess (torch's ``OMP_NUM_THREADS`` and the metric
            kernels' ``WSOL_METRIC_THREADS``), for several runs side by side; None: defaults.

    Returns:
        The run directory (with ``metrics.json``; ``train_seconds.json`` when trained here).

    Raises:
        RuntimeError: the subprocess failed (the message names its output file).
    """
    directory = run_dir(log_dir, name)
    if (directory / "metrics.json").is_file():
        log.info("%s: finished before, reusing %s", name, directory)
        return directory
    resume = ["ckpt_path=last"] if (directory / "checkpoints" / "last.ckpt").is_file() else []
    command = [str(WSOL_TRAIN), *overrides, f"run_name={name}", *QUIET, *resume]
    output_log = Path(output_log or Path(log_dir) / "train" / f"{name}.out")
    output_log.parent.mkdir(parents=True, exist_ok=True)
    log.info("%s: %s", name, " ".join(command[1:]))
    start, load = time.perf_counter(), os.getloadavg()[0]
    with open(output_log, "w", encoding="utf-8") as handle:
        result = subprocess.run(
            command,
            stdout=handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, "WSOL_LOG_DIR": str(log_dir), **thread_env(threads)},
            check=False,
        )
    seconds = time.perf_counter() - start
    if result.returncode != 0 or not (directory / "metrics.json").is_file():
        raise RuntimeError(
            f"{name}: wsol-train failed (exit {result.returncode}); see {output_log}"
        )
    timing = {"seconds": seconds, "load_before": load, "load_after": os.getloadavg()[0]}
    timing["resumed"] = bool(resume)
    timing["threads"] = threads
    (directory / TIMING_FILE).write_text(json.dumps(timing, indent=2) + "\n")
    log.info("%s: trained in %.0f s", name, seconds)
    return directory


def evaluate_run(
    directory: str | os.PathLike,
    split: str = "test",
    refresh: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Part/whole evaluation of a run's ``last.ckpt`` on ``split`` with the synthetic part boxes.

    Returns (and caches in ``part_whole.json``):
        ``{"map": evaluate_part_whole(...), "metrics": the run's metrics.json}``, plus for
        ACoL ``"branches"`` (:func:`evaluate_branches`) and ``"erasing"``
        (:func:`erasing_stats`) on the same split.
    """
    directory = Path(directory)
    checkpoint = directory / "checkpoints" / "last.ckpt"
    cache = directory / EVAL_FILE
    if not refresh and cache.is_file() and cache.stat().st_mtime >= checkpoint.stat().st_mtime:
        return json.loads(cache.read_text())
    if progress is not None:
        progress(f"evaluating {directory.name}")
    module, stored = module_from_checkpoint(checkpoint)
    datamodule = instantiate_stored(stored["data"], str(checkpoint), "data")
    datamodule.prepare_data()
    parts = read_parts(datamodule.split(split).metadata_dir)
    result = {
        "map": evaluate_part_whole(module, datamodule, split, parts),
        "metrics": json.loads((directory / "metrics.json").read_text()),
    }
    if isinstance(module.method, ACoLMethod):
        result["branches"] = evaluate_branches(module, datamodule, parts, split)
        result["erasing"] = erasing_stats(module, datamodule, split, parts)
    cache.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return result
