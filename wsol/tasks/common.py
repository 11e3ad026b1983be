"""Pieces the tasks share: the stored config, the trainer, the checkpoint to evaluate.

Run folders and resuming: :mod:`wsol.tasks.run_folder`, :mod:`wsol.tasks.resume`."""

from __future__ import annotations

import logging
import signal
from pathlib import Path

from hydra.utils import instantiate
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.environments import SLURMEnvironment
from omegaconf import DictConfig, OmegaConf

from wsol.configuration.instantiate import instantiate_callbacks, instantiate_loggers

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


def checkpoint_to_evaluate(
    trainer: Trainer, which: str, run_dir: str | Path | None = None
) -> str | None:
    """Path of this fit's ``last`` or ``best`` checkpoint; None when nothing was saved.

    Raises:
        ValueError: the checkpoint lies outside ``run_dir`` (a resumed copy of a run whose
            restored best path still names the original folder): a run evaluates only its own.
    """
    if which not in ("last", "best"):
        raise ValueError(f"eval_checkpoint must be 'last' or 'best', got {which!r}")
    for callback in trainer.checkpoint_callbacks:
        if not isinstance(callback, ModelCheckpoint) or not callback.best_model_path:
            continue
        # The unmonitored checkpoint keeps the latest epoch; the monitored one the best.
        if (callback.monitor is None) == (which == "last"):
            path = Path(callback.best_model_path).absolute()
            if run_dir is not None and not path.is_relative_to(Path(run_dir).absolute()):
                raise ValueError(
                    f"eval_checkpoint={which}: {path} lies outside this run's folder {run_dir} "
                    "(restored from the resumed checkpoint); a run evaluates only its own "
                    "checkpoints. Train at least one more epoch, or use eval_checkpoint=last"
                )
            return str(path)
    return None
