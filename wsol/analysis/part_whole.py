"""Part/whole analysis on the synthetic benchmark: which share of the object and of its
discriminative part a method's map covers, next to the protocol's metrics."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from tqdm import tqdm

from wsol.analysis.coverage import MaskCoverage
from wsol.cams.pipeline import scoremaps as protocol_scoremaps
from wsol.data.frame import boxes_to_frame
from wsol.data.records import Box, ImageRecord
from wsol.methods.outputs import MethodOutput
from wsol.metrics import WSOLMetrics


def part_mask_in_frame(record: ImageRecord, part_boxes: list[Box], frame: tuple[int, int]):
    """Union of an image's part boxes in the evaluation frame (H, W): bool [H, W]."""
    mask = torch.zeros(frame, dtype=torch.bool)
    if part_boxes:
        boxes = boxes_to_frame(part_boxes, (record.width, record.height), (frame[1], frame[0]))
        for x0, y0, x1, y1 in boxes.tolist():
            mask[y0 : y1 + 1, x0 : x1 + 1] = True
    return mask


@torch.no_grad()
def evaluate_part_whole(
    module,
    datamodule,
    split: str,
    parts: dict[str, list[Box]] | None = None,
    threshold: float | None = None,
    cam_curve_interval: float = 0.01,
    view: Callable[[MethodOutput], MethodOutput] | None = None,
    stored_threshold: bool = True,
) -> dict[str, float]:
    """Protocol metrics of a trained module on a split, plus object and part coverage.

    Args:
        module: a :class:`wsol.lit_module.WSOLLitModule` (its ``method`` is used, GT-known).
        datamodule: the data module holding ``split``.
        split: split name.
        parts: part boxes per image id (``read_parts``); None skips part coverage.
        threshold: CAM threshold of the coverage and loc numbers; None: the module's stored
            validation threshold, or else the split's own MaxBoxAcc(50) optimum.
        cam_curve_interval: threshold step.
        view: maps each forward pass's output to the logits and class maps to evaluate (e.g.
            one ACoL branch, :func:`wsol.analysis.acol_branches.branch_view`); None: as is.
        stored_threshold: False ignores the module's stored threshold (it belongs to the
            method's own maps, not to a ``view``): ``threshold`` or the split's optimum.

    Returns:
        The metrics (``maxboxaccv2``, ``pxap``, ``top1_acc``, ...), ``object_coverage``,
        ``part_coverage`` (fractions in [0, 1] at the threshold) and ``coverage_threshold``.
    """
    method = module.method.eval()
    records = datamodule.split(split).records
    with_masks = datamodule.has_masks(split)
    metrics = WSOLMetrics(cam_curve_interval=cam_curve_interval, with_masks=with_masks)
    stored = float(getattr(module, "loc_threshold", math.nan)) if stored_threshold else math.nan
    fixed = threshold if threshold is not None else (None if math.isnan(stored) else stored)
    metrics.loc.set_threshold(fixed)
    object_cover, part_cover = MaskCoverage(cam_curve_interval), MaskCoverage(cam_curve_interval)
    for batch in tqdm(datamodule.dataloader_for(split), desc=f"evaluating {split}", leave=False):
        output = method(batch["images"], batch["labels"])
        if view is not None:
            output = view(output)
        cams = method.cams(output, batch["labels"])
        scoremaps, _ = protocol_scoremaps(cams, tuple(batch["images"].shape[-2:]))
        metrics.update(
            scoremaps, batch["gt_boxes"], batch["labels"], output.logits, gt_masks=batch["gt_masks"]
        )
        if with_masks:
            object_cover.update(scoremaps, batch["gt_masks"] == 1)
        if parts is not None:
            frame = tuple(scoremaps.shape[-2:])
            batch_records = [records[i] for i in batch["indices"].tolist()]
            part_masks = torch.stack(
                [part_mask_in_frame(r, parts.get(r.image_id, []), frame) for r in batch_records]
            )
            part_cover.update(scoremaps, part_masks)
    values = metrics.compute()
    result = {k: float(v) for k, v in values.items() if k != "curves" and v is not None}
    at = result["loc_threshold"]
    result["coverage_threshold"] = at
    if with_masks:
        result["object_coverage"] = object_cover.at(at)
    if parts is not None:
        result["part_coverage"] = part_cover.at(at)
    return result
