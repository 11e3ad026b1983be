"""wsol-train: fit a method on a data set, then evaluate a checkpoint of it on val and test."""

from __future__ import annotations

import logging
import signal
import subprocess
import time
from pathlib import Path

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig

from wsol.checkpoints.load import load_checkpoint, stored_config
from wsol.models.base import Backbone
from wsol.tasks import compile_ahead
from wsol.tasks.common import build_trainer, checkpoint_to_evaluate, config_to_store
from wsol.tasks.hparams import log_hparams
from wsol.tasks.interrupt import InterruptCheckpoint, RunInterrupted, SignalCatcher
from wsol.tasks.resume import check_resume_config, continue_in_run_dir, resolve_ckpt_path
from wsol.tasks.run_folder import claim_task_folder, mark_started, release, remove_if_refused
from wsol.tasks.run_outputs import (
    apply_extras,
    logged_and_exact,
    save_resolved_config,
    to_float_dict,
    write_metrics,
    write_protocol,
)

log = logging.getLogger("wsol")


def compile_metrics_ahead(trainer) -> subprocess.Popen | None:
    """The background compilation of the metric kernels this run waits for before its first
    evaluation: the one ``wsol-train`` began at start-up, else one begun now on global rank 0
    when the kernels are not cached yet (`compile_ahead`), else None."""
    if trainer.global_rank == 0 and compile_ahead.start() is not None:
        log.info("Compiling the metric kernels in the background (first run on this machine)")
    return compile_ahead.take()


class AwaitCompilation(Callback):
    """Before the first validation or test pass, waits for the background compilation.

    The metrics would otherwise compile the same kernels a second time in this process
    (numba caches only finished compilations) while the background one is still running.
    """

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None

    def _wait(self, *_args) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            start = time.perf_counter()
            self.process.wait()
            log.info("Waited %.1f s for the metric kernels", time.perf_counter() - start)
        self.process = None

    on_validation_start = on_test_start = _wait


def train(cfg: DictConfig) -> dict[str, float]:
    """Train and evaluate as ``cfg`` says; returns the metrics written to metrics.json.

    The checkpoint named by ``eval_checkpoint`` (``last``, or ``best`` by ``val/maxboxaccv2``) is
    evaluated on val (its numbers and CAM threshold) and then on test with that threshold.

    Raises:
        RunInterrupted: SIGTERM or SIGINT stopped the run (``exit_code`` 128 + signal); a
            resumable ``last.ckpt`` is kept when a step had run (:mod:`wsol.tasks.interrupt`).
    """
    with SignalCatcher() as catcher:
        try:
            return _train(cfg, catcher)
        except (RunInterrupted, SIGTERMException, KeyboardInterrupt) as error:
            signum = catcher.signum or getattr(error, "signum", None)
            if signum is None:
                signum = signal.SIGINT if isinstance(error, KeyboardInterrupt) else signal.SIGTERM
            last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
            detail = f"resume with ckpt_path={last}" if last.is_file() else "no step had run"
            log.error("Run %s interrupted by %s; %s", cfg.paths.output_dir, _name(signum), detail)
            raise RunInterrupted(signum, detail) from error
        except Exception:
            # Refused before training started: the folder this run created goes.
            remove_if_refused(cfg.paths.output_dir)
            raise
        finally:
            release(cfg.paths.output_dir)  # the run is over: its folder is free to resume


def check_input_sizes(backbone, data: DictConfig) -> None:
    """The training crop and the evaluation size must give the backbone a usable map.

    Checked after the network is built, before the run starts (a refused run leaves no folder).
    """
    if not isinstance(backbone, Backbone):  # a method without a network (a fixed map)
        return
    for key in ("train_crop", "eval_size"):
        if data.get(key) is not None:
            backbone.check_input_size(int(data[key]), f"data.{key}")


def _name(signum: int) -> str:
    return signal.Signals(signum).name


def _train(cfg: DictConfig, catcher: SignalCatcher) -> dict[str, float]:
    apply_extras(cfg)
    claim_task_folder(cfg)
    ckpt_path = resolve_ckpt_path(cfg.get("ckpt_path"), cfg)
    resumed = False
    if ckpt_path:
        # Before anything is built: a truncated file is named, a hostile stored config refused.
        checkpoint = load_checkpoint(ckpt_path)
        if cfg.get("train", True):
            stored = stored_config(checkpoint, ckpt_path)
            check_resume_config(stored, config_to_store(cfg), ckpt_path)
            resumed = continue_in_run_dir(cfg, ckpt_path)
    save_resolved_config(cfg, cfg.paths.output_dir, overwrite=not resumed)
    L.seed_everything(cfg.seed, workers=True)

    datamodule = instantiate(cfg.data)
    run_config = config_to_store(cfg)
    # Class names travel in the checkpoint (wsol-predict names its classes from it alone).
    run_config["class_names"] = datamodule.class_names
    # Passed after instantiation: Hydra would merge (and instantiate) a dict given to it.
    module = instantiate(cfg.module, _partial_=True)(run_config=run_config)
    check_input_sizes(module.method.backbone, cfg.data)
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    awaiting = AwaitCompilation()
    trainer = build_trainer(cfg, extra_callbacks=[InterruptCheckpoint(catcher, last), awaiting])
    mark_started(cfg.paths.output_dir)

    if cfg.get("train", True):
        compiling = awaiting.process = compile_metrics_ahead(trainer)
        try:
            trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
        finally:
            if compiling is not None and compiling.poll() is None and trainer.interrupted:
                compiling.terminate()
            if compiling is not None:
                compiling.wait()
        which = cfg.get("eval_checkpoint", "last")
        ckpt_path = checkpoint_to_evaluate(trainer, which, cfg.paths.output_dir)
    if ckpt_path is None:
        log.info("No checkpoint was saved: evaluating the final weights")

    metrics: dict[str, float] = {}
    results = trainer.validate(
        module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True
    )
    metrics.update(logged_and_exact(results, "val", module.last_val_results))
    if cfg.get("test", True):
        results = trainer.test(
            module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True
        )
        metrics.update(logged_and_exact(results, "test", module.last_test_results))
    # What the run trained and selected on (few-shot subsets may keep fewer images per class).
    metrics.update(datamodule.split_counts())
    metrics = to_float_dict(metrics)
    write_metrics(metrics, cfg.paths.output_dir)
    write_protocol(module.protocol.to_dict(), cfg.paths.output_dir)
    log_hparams(trainer.loggers, cfg, metrics)
    return metrics
