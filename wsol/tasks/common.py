"""Pieces the tasks share: the stored config, checkpoint resolution, the trainer."""

from __future__ import annotations

import logging
import shutil
import signal
import sys
from pathlib import Path

from hydra.experimental.callback import Callback
from hydra.utils import instantiate
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.environments import SLURMEnvironment
from omegaconf import DictConfig, OmegaConf, open_dict

from wsol.utils.instantiate import instantiate_callbacks, instantiate_loggers

log = logging.getLogger("wsol")

# Config groups a checkpoint needs to rebuild its network and data pipeline.
STORED_GROUPS = ("data", "backbone", "method", "module", "eval", "seed")


def config_to_store(cfg: DictConfig) -> dict:
    """The resolved groups a checkpoint keeps (plain containers: loadable with weights_only),
    and ``data_dir``: stored folders are re-rooted from it to the data dir of a later run."""
    stored = {
        key: OmegaConf.to_container(cfg[key], resolve=True)
        if OmegaConf.is_config(cfg[key])
        else cfg[key]
        for key in STORED_GROUPS
        if key in cfg
    }
    data_dir = OmegaConf.select(cfg, "paths.data_dir")
    if data_dir is not None:
        stored["data_dir"] = str(data_dir)
    return stored


def is_finished(run_dir: Path) -> bool:
    """A run is finished once it has written its ``metrics.json``."""
    return (run_dir / "metrics.json").is_file()


def _last(run_dir: Path) -> Path:
    return run_dir / "checkpoints" / "last.ckpt"


def resolve_ckpt_path(ckpt_path: str | None, cfg: DictConfig) -> str | None:
    """A checkpoint path; ``"last"`` resumes an unfinished run of this run directory.

    ``last`` is this run's own ``last.ckpt`` (a fixed ``run_name``) when the run is unfinished,
    else the ``last.ckpt`` of the one unfinished run beside it (the same ``runs/`` or sweep
    folder). Finished runs (with a ``metrics.json``) are never resumed; several unfinished ones
    are refused, named, rather than guessed between.
    """
    if ckpt_path in (None, ""):
        return None
    if ckpt_path != "last":
        path = Path(ckpt_path)
        if not path.is_file():
            raise FileNotFoundError(f"ckpt_path: checkpoint not found: {path}")
        return str(path)
    own = Path(cfg.paths.output_dir)
    if _last(own).is_file():
        if is_finished(own):
            raise ValueError(
                f"ckpt_path=last: run {own} is finished (it has metrics.json); it is left as "
                "it is. Choose another run_name, or ckpt_path=<path> to start a new run from it"
            )
        log.info("ckpt_path=last resumes this run's own %s", _last(own))
        return str(_last(own))
    runs = own.parent
    siblings = runs.iterdir() if runs.is_dir() else []
    found = sorted(d for d in siblings if d != own and _last(d).is_file())
    unfinished = [d for d in found if not is_finished(d)]
    finished = ", ".join(d.name for d in found if is_finished(d)) or "none"
    if not unfinished:
        raise FileNotFoundError(
            f"ckpt_path=last: no last.ckpt of an unfinished run in {runs} (finished runs, left "
            f"alone: {finished}); give a checkpoint path instead"
        )
    if len(unfinished) > 1:
        names = ", ".join(d.name for d in unfinished)
        raise ValueError(
            f"ckpt_path=last: {len(unfinished)} unfinished runs in {runs} ({names}); pick one "
            "with run_name=<name> or ckpt_path=<path>"
        )
    log.info(
        "ckpt_path=last resumes %s: the only unfinished run in %s (finished, left alone: %s)",
        _last(unfinished[0]),
        runs,
        finished,
    )
    return str(_last(unfinished[0]))


class ProtectFinishedRuns(Callback):
    """Hydra callback: ``ckpt_path=last`` with the ``run_name`` of a finished run stops before
    Hydra writes its files (``.hydra/``, the log) into that run's folder."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        if config.get("ckpt_path") != "last":
            return
        try:
            run_dir = Path(str(config.hydra.run.dir))
        except Exception:  # noqa: BLE001 - resolvable only inside the run: checked there
            return
        if is_finished(run_dir):
            sys.stderr.write(
                f"ckpt_path=last: run {run_dir} is finished (it has metrics.json); it is left "
                "as it is. Choose another run_name, or ckpt_path=<path> to start a new run\n"
            )
            raise SystemExit(1)


def continue_in_run_dir(cfg: DictConfig, ckpt_path: str) -> None:
    """Resume inside the interrupted run's own directory, unless that run is finished.

    Checkpoints, TensorBoard events, the log file and metrics.json then continue where they
    were, and ModelCheckpoint keeps the best score of the epochs before the interruption (it
    drops that state when its directory changes). The folder Hydra made for this invocation is
    folded into the run (its ``.hydra`` goes to ``<run>/.hydra/resume-<name>``), so a resume
    leaves no stray folder. A finished run is never written to: training from its checkpoint
    starts in this invocation's own folder.
    """
    path = Path(ckpt_path).resolve()
    if path.parent.name != "checkpoints":
        return
    run_dir = path.parent.parent
    if is_finished(run_dir):
        log.info("%s is a finished run: training from its checkpoint in a new run folder", run_dir)
        return
    fresh = Path(cfg.paths.output_dir).resolve()
    if fresh == run_dir:
        return
    log.info("Resuming run %s", run_dir)
    with open_dict(cfg):
        cfg.paths.output_dir = str(run_dir)
    _fold_into(fresh, run_dir)


def _fold_into(fresh: Path, run_dir: Path) -> None:
    """Move Hydra's files of this invocation from ``fresh`` into ``run_dir`` and drop ``fresh``.

    The job's log file (what it holds so far, then its handler) continues, appending, at the
    same name in ``run_dir``.
    """
    if not fresh.is_dir():
        return
    for handler in list(logging.getLogger().handlers):
        name = getattr(handler, "baseFilename", None)
        if name is None or Path(name).parent != fresh:
            continue
        logging.getLogger().removeHandler(handler)
        handler.close()
        kept = run_dir / Path(name).name
        with kept.open("a") as log_file:  # this invocation's first lines, then the rest
            log_file.write(Path(name).read_text())
        moved = logging.FileHandler(kept, mode="a")
        moved.setFormatter(handler.formatter)
        moved.setLevel(handler.level)
        logging.getLogger().addHandler(moved)
        Path(name).unlink(missing_ok=True)
    hydra_dir = fresh / ".hydra"
    if hydra_dir.is_dir():
        target = run_dir / ".hydra" / f"resume-{fresh.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(hydra_dir), str(target))
    try:
        fresh.rmdir()
    except OSError:
        log.warning("%s is not empty; left in place", fresh)


def slurm_plugins(cfg: DictConfig) -> list:
    """Lightning's SLURM environment with requeue on the scheduler's signal, under SLURM only.

    ``slurm.requeue_signal`` must match ``sbatch --signal=<SIG>@<seconds>``: on it Lightning
    saves ``hpc_ckpt_<n>.ckpt`` in the run folder and requeues the job, which restores it.
    """
    settings = cfg.get("slurm")
    if not settings or not SLURMEnvironment.detect():
        return []
    name = str(settings.get("requeue_signal", "SIGUSR1"))
    requeue = bool(settings.get("auto_requeue", True))
    log.info("SLURM: auto_requeue=%s on %s", requeue, name)
    return [SLURMEnvironment(auto_requeue=requeue, requeue_signal=signal.Signals[name])]


def build_trainer(
    cfg: DictConfig, with_callbacks: bool = True, extra_callbacks: list | None = None
) -> Trainer:
    """The Trainer of ``cfg.trainer`` with the configured callbacks and loggers.

    ``extra_callbacks`` are the task's own (not switchable by config), added after the others.
    """
    callbacks = instantiate_callbacks(cfg.get("callbacks")) if with_callbacks else []
    callbacks += list(extra_callbacks or [])
    loggers = instantiate_loggers(cfg.get("logger"))
    plugins = slurm_plugins(cfg)
    extra = {"plugins": plugins} if plugins else {}
    return instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False, **extra)


def checkpoint_to_evaluate(trainer: Trainer, which: str) -> str | None:
    """Path of this fit's ``last`` or ``best`` checkpoint; None when nothing was saved."""
    if which not in ("last", "best"):
        raise ValueError(f"eval_checkpoint must be 'last' or 'best', got {which!r}")
    for callback in trainer.checkpoint_callbacks:
        if not isinstance(callback, ModelCheckpoint) or not callback.best_model_path:
            continue
        # The unmonitored checkpoint keeps the latest epoch; the monitored one the best.
        if (callback.monitor is None) == (which == "last"):
            return callback.best_model_path
    return None
