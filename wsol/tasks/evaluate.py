"""wsol-eval: re-evaluate a checkpoint on a split, or score a directory of saved score maps."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig

from wsol.tasks.common import build_trainer
from wsol.tasks.score_cams import score_cams_dir
from wsol.utils.checkpoint import module_from_checkpoint
from wsol.utils.run import apply_extras, logged_and_exact, to_float_dict, write_metrics
from wsol.utils.safe_instantiate import instantiate_stored
from wsol.viz.curves import save_curve_figures

log = logging.getLogger("wsol")


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Dispatch on ``cams_dir`` (saved maps) or ``ckpt_path`` (a trained checkpoint)."""
    apply_extras(cfg)
    if cfg.get("cams_dir"):
        metrics = score_cams_dir(cfg)
    elif cfg.get("ckpt_path"):
        metrics = evaluate_checkpoint(cfg)
    else:
        raise ValueError(
            "wsol-eval needs ckpt_path=<checkpoint> or cams_dir=<dir> metadata_dir=<dir>"
        )
    write_metrics(metrics, cfg.paths.output_dir)
    return metrics


def evaluate_checkpoint(cfg: DictConfig) -> dict[str, float]:
    """Test a checkpoint on ``cfg.split`` of its training data (or of ``cfg.data``).

    The CAM threshold of top-1/GT-known loc is the one chosen on validation during training
    (stored in the checkpoint), exactly as at the end of ``wsol-train``.
    """
    L.seed_everything(cfg.seed, workers=True)
    module, stored = module_from_checkpoint(cfg.ckpt_path)
    split = cfg.get("split") or "test"
    if cfg.get("data") is not None:
        datamodule = instantiate(cfg.data, test_split=split)
    else:
        datamodule = instantiate_stored(stored["data"], cfg.ckpt_path, "data", test_split=split)
    eval_cfg = cfg.get("eval")
    if eval_cfg is not None:
        module.hparams.cam_curve_interval = float(eval_cfg.cam_curve_interval)
        module.hparams.iou_thresholds = [int(i) for i in eval_cfg.iou_thresholds]
        module.hparams.loc_multi_contour = bool(eval_cfg.loc_multi_contour)
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
    log.info("Evaluated %s on split %r", Path(cfg.ckpt_path).name, split)
    return to_float_dict({f"{split}/" + k.split("/", 1)[1]: v for k, v in metrics.items()})
