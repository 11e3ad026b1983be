"""A run owns its folder: created exclusively, never written again once finished.

- A run folder is made with an exclusive ``mkdir`` and stamped with :data:`MARKER`, which the
  run holds an ``flock`` on for as long as its process lives: two runs of one name can never
  share a folder, and a crashed run's lock goes with its process.
- An existing folder is entered only to resume it (``ckpt_path=last``, or a checkpoint inside
  it), only when it is a wsol run folder (it has the marker), unfinished (no ``metrics.json``)
  and not held by another process. A finished run is never written again, whatever names it.
- A checkpoint outside a wsol run folder (a shared models folder) starts a new run; nothing is
  written beside it.
- A run refused before training started leaves no folder (:func:`remove_if_refused`).

The Hydra callback :class:`ClaimRunFolder` claims the folder before Hydra writes into it;
tasks called in-process claim it with :func:`claim_task_folder`.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import socket
import sys
import time
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, open_dict, read_write

log = logging.getLogger("wsol")

MARKER = ".wsol-run"
# Folders this process holds (resolved path → file descriptor of the locked marker), those it
# created, and those whose run has started writing results (never removed on failure).
_HELD: dict[Path, int] = {}
_CREATED: set[Path] = set()
_STARTED: set[Path] = set()


class RunFolderError(ValueError):
    """A run may not use this folder (it is finished, taken, or in use by another run)."""


def is_finished(run_dir: Path) -> bool:
    """A run is finished once it has written its ``metrics.json``."""
    return (Path(run_dir) / "metrics.json").is_file()


def is_run_folder(run_dir: Path) -> bool:
    """Whether ``run_dir`` was made by a wsol run (it carries :data:`MARKER`)."""
    return (Path(run_dir) / MARKER).is_file()


def holds(run_dir: str | Path) -> bool:
    """Whether this process holds ``run_dir``."""
    return Path(run_dir).resolve() in _HELD


def _lock(run_dir: Path) -> None:
    """Hold the marker's lock (creating the marker), or raise naming the holder."""
    marker = run_dir / MARKER
    fd = os.open(marker, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 4096).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise RunFolderError(
            f"run folder {run_dir} is in use by another run ({holder}); wait for it to end "
            "or choose another run_name"
        ) from None
    stamp = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
    os.ftruncate(fd, 0)
    os.write(fd, (json.dumps(stamp) + "\n").encode())
    _HELD[run_dir.resolve()] = fd


def release(run_dir: str | Path, remove_marker: bool = False) -> None:
    """Stop holding ``run_dir`` (and delete its marker: a folder about to be removed)."""
    key = Path(run_dir).resolve()
    fd = _HELD.pop(key, None)
    if fd is not None:
        if remove_marker:
            (key / MARKER).unlink(missing_ok=True)
        os.close(fd)
    _CREATED.discard(key)


def mark_started(run_dir: str | Path) -> None:
    """The run has started writing results: its folder is kept whatever happens next."""
    _STARTED.add(Path(run_dir).resolve())


def _refuse_finished(run_dir: Path) -> RunFolderError:
    return RunFolderError(
        f"run {run_dir} is finished (it has metrics.json); it is never written again. "
        "Choose another run_name, or ckpt_path=<its checkpoint> to start a new run from it"
    )


def claim(run_dir: str | Path, resume: bool = False) -> Path:
    """Make ``run_dir`` this process's run folder; returns it.

    Args:
        resume: the run resumes this very folder (``ckpt_path=last`` or a checkpoint in it).

    Raises:
        RunFolderError: the folder exists and is finished, or is not being resumed, or is held
            by another process.
    """
    run_dir = Path(run_dir).absolute()
    if holds(run_dir):
        return run_dir
    if holds(run_dir.parent):  # a job folder inside this process's sweep folder
        run_dir.mkdir(parents=True, exist_ok=True)
        _lock(run_dir)
        _CREATED.add(run_dir.resolve())
        return run_dir
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    try:
        run_dir.mkdir()
    except FileExistsError:
        if not run_dir.is_dir():
            raise RunFolderError(f"{run_dir} exists and is not a folder") from None
        if any(run_dir.iterdir()):
            if is_finished(run_dir):
                raise _refuse_finished(run_dir) from None
            if not resume:
                raise RunFolderError(
                    f"run folder {run_dir} exists: another run has this name. Resume it with "
                    "ckpt_path=last, or choose another run_name"
                ) from None
            _lock(run_dir)
            return run_dir
    _lock(run_dir)
    _CREATED.add(run_dir.resolve())
    return run_dir


def remove_if_refused(run_dir: str | Path) -> bool:
    """Remove ``run_dir`` when this process created it and its run never started; True if so."""
    key = Path(run_dir).resolve()
    if key not in _CREATED or key in _STARTED or not key.is_dir():
        return False
    release(key, remove_marker=True)
    shutil.rmtree(key, ignore_errors=True)
    return True


def _resumes(cfg: DictConfig, run_dir: Path) -> bool:
    """Whether the run resumes ``run_dir``: ``ckpt_path=last``, a checkpoint inside it, or a
    SLURM requeue (Lightning's ``hpc_ckpt_<n>.ckpt`` in it, restored by Lightning itself)."""
    ckpt_path = cfg.get("ckpt_path")
    if run_dir.is_dir() and any(run_dir.glob("hpc_ckpt_*.ckpt")):
        return True
    if not ckpt_path:
        return False
    if ckpt_path == "last":
        return True
    return Path(str(ckpt_path)).absolute().parent.parent == run_dir.absolute()


def _other_rank() -> bool:
    """A process of a distributed run other than the global rank 0 (Lightning's DDP children,
    torchrun, srun tasks): the folder is rank 0's to claim."""
    return any(os.environ.get(name, "0") != "0" for name in ("RANK", "LOCAL_RANK", "SLURM_PROCID"))


def _hydra_job_folder(run_dir: Path) -> bool:
    """Whether ``run_dir`` is the folder Hydra has just made for this job (a multirun job run
    by another process than the sweep's, e.g. a SLURM launcher): only Hydra's files in it."""
    if not HydraConfig.initialized() or is_run_folder(run_dir) or not run_dir.is_dir():
        return False
    try:
        own = Path(HydraConfig.get().runtime.output_dir)
    except Exception:  # noqa: BLE001 - a config composed by hand
        return False
    names = {p.name for p in run_dir.iterdir()}
    only_hydra = all(name == ".hydra" or name.endswith(".log") for name in names)
    return own.resolve() == run_dir.resolve() and only_hydra


def claim_task_folder(cfg: DictConfig) -> Path:
    """Claim ``cfg.paths.output_dir`` for a task called in-process (or already claimed)."""
    run_dir = Path(cfg.paths.output_dir).absolute()
    if _other_rank() or holds(run_dir):
        return run_dir
    if _hydra_job_folder(run_dir):
        _lock(run_dir)
        _CREATED.add(run_dir.resolve())
        return run_dir
    return claim(run_dir, resume=_resumes(cfg, run_dir))


def _stop(error: Exception) -> None:
    sys.stderr.write(f"{error}\n")
    raise SystemExit(1) from error


class ClaimRunFolder(Callback):
    """Hydra callback: claim the run (or sweep) folder before Hydra writes into it.

    A default (timestamped) run folder that exists already gets a ``_<n>`` suffix; a named one
    is refused unless resumed. A run that fails before it started leaves no folder. Hydra
    turns a callback's exception into a warning, so a refusal ends the command here (stderr,
    exit status 1).
    """

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        if _other_rank():
            return
        try:
            run_dir = Path(str(config.hydra.run.dir)).absolute()
        except Exception:  # noqa: BLE001 - resolvable only inside the run: claimed there
            return
        numbered = config.get("run_name") in (None, "")
        try:
            for n in range(100):
                candidate = run_dir if n == 0 else run_dir.with_name(f"{run_dir.name}_{n}")
                try:
                    claimed = claim(candidate, resume=_resumes(config, candidate))
                    break
                except RunFolderError:
                    if not numbered or n == 99:
                        raise
        except RunFolderError as error:
            _stop(error)
        with read_write(config.hydra.run), open_dict(config.hydra.run):
            config.hydra.run.dir = str(claimed)

    def on_run_end(self, config: DictConfig, job_return: Any = None, **kwargs: Any) -> None:
        status = getattr(getattr(job_return, "status", None), "name", "")
        if status == "FAILED":
            try:
                remove_if_refused(str(config.hydra.run.dir))
            except Exception:  # noqa: BLE001 - best effort: the job's own error is reported
                pass

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if _other_rank():
            return
        try:
            sweep_dir = Path(str(config.hydra.sweep.dir)).absolute()
        except Exception:  # noqa: BLE001
            return
        try:
            claim(sweep_dir)
        except RunFolderError as error:
            _stop(error)
