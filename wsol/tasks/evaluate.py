"""wsol-eval: re-evaluate a checkpoint on a split, or score a directory of saved score maps.

A checkpoint carries the evaluation protocol it was trained and validated with (CAM threshold
step, IoU thresholds, contour mode of the loc metrics, the CAM threshold chosen on val).
``wsol-eval ckpt_path=...`` scores with that protocol, so it reproduces the training run's test
numbers; only settings given explicitly on the command line (``eval=fine``,
``eval.cam_curve_interval=0.001``) replace stored ones, and they are logged. The protocol used
is written as ``protocol.json`` next to ``metrics.json``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from wsol.checkpoints.load import load_checkpoint, module_from_checkpoint, stored_config
from wsol.checkpoints.safe_instantiate import instantiate_stored
from wsol.evaluation.protocol import Protocol
from wsol.lit_module import WSOLLitModule
from wsol.tasks.common import build_trainer
from wsol.tasks.run_outputs import (
    apply_extras,
    logged_and_exact,
    to_float_dict,
    write_metrics,
    write_protocol,
)
from wsol.tasks.score_cams import score_cams_dir
from wsol.viz.curves import save_curve_figures

log = logging.getLogger("wsol")


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Dispatch on ``cams_dir`` (saved maps) or ``ckpt_path`` (a trained checkpoint)."""
    apply_extras(cfg)
    if cfg.get("cams_dir"):
        metrics = score_cams_dir(cfg)
    elif cfg.get("ckpt_path") or cfg.get("method") is not None:
        metrics = evaluate_checkpoint(cfg)
    else:
        raise ValueError(
            "wsol-eval needs ckpt_path=<checkpoint>, method=<method> data=<data> or "
            "cams_dir=<dir> metadata_dir=<dir>"
        )
    write_metrics(metrics, cfg.paths.output_dir)
    return metrics


def evaluate_checkpoint(cfg: DictConfig) -> dict[str, float]:
    """Test a checkpoint on ``cfg.split`` of its training data (or of ``cfg.data``).

    The protocol is the checkpoint's own (see the module docstring): the CAM threshold of
    top-1/GT-known loc is the one chosen on validation during training, exactly as at the end
    of ``wsol-train``; explicitly overridden ``eval`` settings win.
    """
    L.seed_everything(cfg.seed, workers=True)
    module, stored = module_to_evaluate(cfg)
    split = cfg.get("split") or "test"
    if cfg.get("data") is not None:
        datamodule = instantiate(cfg.data, test_split=split)
    else:
        datamodule = instantiate_stored(
            stored["data"],
            cfg.ckpt_path,
            "data",
            data_dir=cfg.paths.data_dir,
            stored_data_dir=stored.get("data_dir"),
            test_split=split,
        )
    given = Protocol.from_dict(
        OmegaConf.to_container(cfg.eval, resolve=True) if cfg.get("eval") else {}, where="eval"
    ).settings()
    overridden = explicit_protocol_settings()
    if overridden:
        chosen = {name: given[name] for name in overridden}
        stored_settings = module.protocol.settings()
        log.info(
            "Evaluation protocol: %s given on the command line replace the checkpoint's %s",
            chosen,
            {name: stored_settings[name] for name in overridden},
        )
        module.set_protocol(**chosen)
    else:
        log.info("Evaluation protocol of the checkpoint: %s", module.protocol)
    write_protocol({**module.protocol.to_dict(), "overridden": overridden}, cfg.paths.output_dir)
    if module.method.needs_gradients:
        # The method takes gradients while evaluating (post-hoc explainers): Lightning's
        # default torch.inference_mode() would forbid them; the method enables grad locally.
        with open_dict(cfg):
            cfg.trainer.inference_mode = False
    trainer = build_trainer(cfg, with_callbacks=False)
    results = trainer.test(module, datamodule=datamodule)
    metrics = logged_and_exact(results, "test", module.last_test_results)
    exact = module.last_test_results or {}
    save_curve_figures(
        exact.get("curves", {}),
        cfg.paths.output_dir,
        module.protocol.iou_thresholds,
        scalars=exact,
        stage=split,
    )
    log.info("Evaluated %s on split %r", Path(cfg.get("ckpt_path") or "").name, split)
    return to_float_dict({f"{split}/" + k.split("/", 1)[1]: v for k, v in metrics.items()})


def explicit_protocol_settings() -> list[str]:
    """Protocol settings the command line sets explicitly, in `Protocol.NAMES` order.

    A group choice (``eval=fine``, ``eval=default``) sets all of them; ``eval.<name>=...`` sets
    one. The ``eval`` group's default is not explicit: Hydra's task overrides say what the
    user typed. Without a Hydra context (a config built by hand) nothing is explicit.
    """
    if not HydraConfig.initialized():
        return []
    names: set[str] = set()
    for override in HydraConfig.get().overrides.task:
        key = override.split("=", 1)[0].lstrip("+~")
        if key == "eval":
            names.update(Protocol.NAMES)
        elif key.startswith("eval."):
            names.add(key.split(".")[1])
    return [name for name in Protocol.NAMES if name in names]


def module_to_evaluate(cfg: DictConfig) -> tuple[WSOLLitModule, dict]:
    """The module to test and the stored config that supplies the default data.

    Without ``method``: the checkpoint's module. With ``method`` (e.g. a post-hoc explainer of
    a classifier): a module around that method, scored with ``cfg.eval``; the data default to
    those of ``ckpt_path`` when one is given.
    """
    if cfg.get("method") is None:
        return module_from_checkpoint(cfg.ckpt_path)
    ckpt_path = cfg.get("ckpt_path")
    stored = stored_config(load_checkpoint(ckpt_path), ckpt_path) if ckpt_path else {}
    if cfg.get("data") is None and "data" not in stored:
        raise ValueError("wsol-eval method=...: give data=<data config> (or a ckpt_path)")
    protocol = Protocol.from_dict(OmegaConf.to_container(cfg.eval, resolve=True), where="eval")
    module = WSOLLitModule(method=instantiate(cfg.method), optimizer=None, protocol=protocol)
    return module.eval(), stored
