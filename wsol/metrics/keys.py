"""Metric names and the ``stage/name`` keys they are logged and saved under.

Every place that reports metrics (the LightningModule's logs, ``metrics.json`` of a run,
``wsol-eval cams_dir=...``, ``wsol-predict``, the scripts) names them here, so a number means
the same thing under the same key everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

# Keys of a box split that are None when the split has no boxes (mask-only splits).
BOX_NAMES = (
    "maxboxaccv2",
    "maxboxacc",
    "best_threshold_v1",
    "gt_known_loc",
    "top1_loc",
    "top5_loc",
    "loc_threshold",
)


def iou_name(d: float) -> str:
    """Key of MaxBoxAccV2 at one IoU threshold: 50 -> 'maxboxaccv2_iou50', 62.5 -> '..._iou62.5'."""
    return f"maxboxaccv2_iou{int(d) if float(d).is_integer() else d}"


def named_results(
    iou_thresholds: Sequence[float] = (),
    v2: Mapping | None = None,
    v1: Mapping | None = None,
    loc: Mapping | None = None,
    pxap: Mapping | None = None,
) -> dict[str, float]:
    """Flat ``name -> float`` of the single metrics' results (those given).

    Args:
        iou_thresholds: the IoU thresholds (percent) of ``v2``.
        v2: `MaxBoxAcc` (multi-contour) result: ``maxboxaccv2`` and ``maxboxaccv2_iou<d>``.
        v1: `MaxBoxAcc` (largest contour, IoU 50) result: ``maxboxacc``, ``best_threshold_v1``.
        loc: `LocalizationAccuracy` result: ``gt_known_loc``, ``top1_loc``, ``top5_loc``,
            ``loc_threshold`` (None when it saw no box), ``top1_acc``, ``top5_acc``.
        pxap: `PxAP` result: ``pxap``.
    """
    out: dict[str, float] = {}
    if v2 is not None:
        out["maxboxaccv2"] = float(v2["value"])
        for d, value in zip(iou_thresholds, v2["per_iou"].tolist(), strict=True):
            out[iou_name(d)] = float(value)
    if v1 is not None:
        out["maxboxacc"] = float(v1["value"])
        out["best_threshold_v1"] = float(v1["thresholds"][int(v1["best_threshold_index"][0])])
    if loc is not None:
        for name in ("gt_known_loc", "top1_loc", "top5_loc", "top1_acc", "top5_acc"):
            out[name] = loc[name]
        out["loc_threshold"] = loc["threshold"]
    if pxap is not None:
        out["pxap"] = float(pxap["value"])
    return out


def result_keys(stage: str, results: Mapping) -> dict[str, float]:
    """``{"<stage>/<name>": float}`` of a flat metrics result (`WSOLMetrics.compute`,
    `named_results`), the ``curves`` and the values a split cannot have (None) left out."""
    return {
        f"{stage}/{name}": float(value)
        for name, value in results.items()
        if name != "curves" and value is not None
    }


__all__ = ["BOX_NAMES", "iou_name", "named_results", "result_keys"]
