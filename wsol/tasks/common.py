"""Pieces the tasks share: the stored config, checkpoint resolution, the trainer."""

from __future__ import annotations

import logging
from pathlib import Path

from hydra.utils import instantiate
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig, OmegaConf, open_dict

from wsol.utils.instantiate import instantiate_callbacks, instantiate_loggers

log = logging.getLogger("wsol")

# Config groups a checkpoint needs to rebuild its network and data pipeline.
STORED_GROUPS = ("data", "backbone", "method", "module", "eval", "seed")


def config_to_store(cfg: DictConfig) -> dict:
    """The resolved groups a checkpoint keeps (plain containers: loadable with weights_only)."""
    return {
        key: OmegaConf.to_container(cfg[key], resolve=True)
        if OmegaConf.is_config(cfg[key])
        else cfg[key]
        for key in STORED_GROUPS
        if key in cfg
    }


def resolve_ckpt_path(ckpt_path: str | None, cfg: DictConfig) -> str | None:
    """A checkpoint path, or for ``"last"`` the newest ``last.ckpt`` of this task's runs."""
    if ckpt_path in (None, ""):
        return None
    if ckpt_path != "last":
        path = Path(ckpt_path)
        if not path.is_file():
            raise FileNotFoundError(f"ckpt_path: checkpoint not found: {path}")
        return str(path)
    own = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    if own.is_file():
        return str(own)
    runs = Path(cfg.paths.log_dir) / cfg.task_name
    candidates = sorted(
        runs.glob("*runs/**/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime
    )
    if not candidates:
        raise FileNotFoundError(
            f"ckpt_path=last: no last.ckpt under {runs}; give a checkpoint path instead"
        )
    log.info("ckpt_path=last resumes %s", candidates[-1])
    return str(candidates[-1])


def continue_in_run_dir(cfg: DictConfig, ckpt_path: str) -> None:
    """Resume inside the interrupted run's own directory.

    Checkpoints, TensorBoard events and metrics.json then continue where they were, and
    ModelCheckpoint keeps the best score of the epochs before the interruption (it drops that
    state when its directory changes).
    """
    path = Path(ckpt_path).resolve()
    if path.parent.name != "checkpoints":
        return
    run_dir = path.parent.parent
    log.info("Resuming run %s", run_dir)
    with open_dict(cfg):
        cfg.paths.output_dir = str(run_dir)


def build_trainer(cfg: DictConfig, with_callbacks: bool = True) -> Trainer:
    """The Trainer of ``cfg.trainer`` with the configured callbacks and loggers."""
    callbacks = instantiate_callbacks(cfg.get("callbacks")) if with_callbacks else []
    loggers = instantiate_loggers(cfg.get("logger"))
    return instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)


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
