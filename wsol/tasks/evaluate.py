"""wsol-eval: re-evaluate a checkpoint on a split, or score a directory of saved score maps."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from wsol.lit_module import WSOLLitModule
from wsol.tasks.common import build_trainer
from wsol.tasks.score_cams import score_cams_dir
from wsol.utils.checkpoint import load_checkpoint, module_from_checkpoint, stored_config
from wsol.utils.run import apply_extras, logged_and_exact, to_float_dict, write_metrics
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

    The CAM threshold of top-1/GT-known loc is the one chosen on validation during training
    (stored in the checkpoint), exactly as at the end of ``wsol-train``.
    """
    L.seed_everything(cfg.seed, workers=True)
    module, stored = module_to_evaluate(cfg)
    data_cfg = cfg.data if cfg.get("data") is not None else OmegaConf.create(stored["data"])
    split = cfg.get("split") or "test"
    datamodule = instantiate(data_cfg, test_split=split)
    eval_cfg = cfg.get("eval")
    if eval_cfg is not None:
        module.hparams.cam_curve_interval = float(eval_cfg.cam_curve_interval)
        module.hparams.iou_thresholds = [int(i) for i in eval_cfg.iou_thresholds]
        module.hparams.loc_multi_contour = bool(eval_cfg.loc_multi_contour)
    if getattr(module.method, "needs_gradients", False):
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
        module.hparams.iou_thresholds,
        scalars=exact,
        stage=split,
    )
    log.info("Evaluated %s on split %r", Path(cfg.get("ckpt_path") or "").name, split)
    return to_float_dict({f"{split}/" + k.split("/", 1)[1]: v for k, v in metrics.items()})


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
    protocol = OmegaConf.to_container(cfg.eval, resolve=True)
    module = WSOLLitModule(
        method=instantiate(cfg.method),
        optimizer=None,
        cam_curve_interval=protocol["cam_curve_interval"],
        iou_thresholds=protocol["iou_thresholds"],
        loc_multi_contour=protocol["loc_multi_contour"],
    )
    return module.eval(), stored
