"""Options that are each valid but together cannot give a meaningful result, refused up front.

- ``train=true`` with ``trainer.max_epochs=0`` (or ``max_steps=0``) would score an untrained
  network as the run's result;
- ``eval_checkpoint=best`` needs a checkpoint callback that monitors a metric, else the "best"
  checkpoint would silently be the last weights;
- ``optimized_metric`` must be a validation metric the run writes to ``metrics.json``
  (checked before the run, not after it).
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from wsol.metrics.keys import BOX_NAMES, iou_name

# Validation metrics every run writes (besides maxboxaccv2_iou<d> of eval.iou_thresholds).
VAL_METRICS = (*BOX_NAMES, "top1_acc", "top5_acc", "pxap", "loss", "invalid_cams")


def _get(cfg: DictConfig, key: str) -> Any:
    try:
        return OmegaConf.select(cfg, key, throw_on_resolution_failure=False)
    except Exception:  # noqa: BLE001 - values that resolve only inside a run
        return None


def _monitored_checkpoint(callbacks: Any) -> bool:
    if not isinstance(callbacks, DictConfig):
        return False
    for name in callbacks:
        node = _get(callbacks, str(name))
        if not isinstance(node, DictConfig):
            continue
        target = str(node.get("_target_", ""))
        if target.endswith("ModelCheckpoint") and _get(node, "monitor"):
            return True
    return False


def known_val_metrics(cfg: DictConfig) -> list[str]:
    """``val/<name>`` keys a training run writes to metrics.json."""
    names = list(VAL_METRICS)
    thresholds = _get(cfg, "eval.iou_thresholds")
    if thresholds is not None:
        names += [iou_name(d) for d in thresholds]
    return [f"val/{name}" for name in names]


def combination_problems(cfg: DictConfig) -> list[str]:
    """Problems of option combinations of a ``wsol-train`` config (none for other tasks)."""
    if "train" not in cfg or "trainer" not in cfg:
        return []
    problems = []
    training = bool(_get(cfg, "train"))
    for key in ("trainer.max_epochs", "trainer.max_steps"):
        if training and _get(cfg, key) == 0:
            problems.append(
                f"{key}: 0 with train=true would evaluate an untrained network as the run's "
                "result; train at least one epoch, or train=false ckpt_path=<checkpoint>"
            )
    if training and _get(cfg, "eval_checkpoint") == "best":
        if not _monitored_checkpoint(_get(cfg, "callbacks")):
            problems.append(
                "eval_checkpoint: 'best' needs a checkpoint callback with a monitor "
                "(callbacks=default gives callbacks.model_checkpoint on val/maxboxaccv2); "
                "without one the last weights would be scored as the best"
            )
    metric = _get(cfg, "optimized_metric")
    if metric and training:
        known = known_val_metrics(cfg)
        if not str(metric).startswith("val/"):
            problems.append(
                f"optimized_metric: sweeps select on the validation split (val/...), never on "
                f"test, got {metric!r}"
            )
        elif str(metric) not in known:
            problems.append(
                f"optimized_metric: must be one of the validation metrics a run writes "
                f"({', '.join(known)}), got {metric!r}"
            )
    return problems
