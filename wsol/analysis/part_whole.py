"""Part/whole analysis on the synthetic benchmark: which share of the object and of its
discriminative part a method's map covers, next to the protocol's metrics.

Everything runs through the one evaluation entry (`wsol.evaluation.loop.evaluate`) under the
module's own protocol (`WSOLLitModule.protocol`: threshold step, IoU thresholds, contour mode
and the CAM threshold chosen on validation), so the numbers are those of the run's
``metrics.json``; maps that could not be normalized are counted (``invalid_cams``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from wsol.analysis.coverage import RegionCoverage, object_region
from wsol.data.frame import boxes_to_frame
from wsol.data.records import Box, ImageRecord
from wsol.evaluation.evaluators import ProtocolMetrics
from wsol.evaluation.loop import EvalBatch, Evaluator, View, evaluate
from wsol.evaluation.protocol import Protocol


def part_mask_in_frame(record: ImageRecord, part_boxes: list[Box], frame: tuple[int, int]):
    """Union of an image's part boxes in the evaluation frame (H, W): bool [H, W]."""
    mask = torch.zeros(frame, dtype=torch.bool)
    if part_boxes:
        boxes = boxes_to_frame(part_boxes, (record.width, record.height), (frame[1], frame[0]))
        for x0, y0, x1, y1 in boxes.tolist():
            mask[y0 : y1 + 1, x0 : x1 + 1] = True
    return mask


def part_region(
    records: list[ImageRecord], parts: dict[str, list[Box]]
) -> Callable[[EvalBatch], Tensor]:
    """The region function of part coverage: each batch image's part boxes as a mask."""

    def region(batch: EvalBatch) -> Tensor:
        frame = tuple(batch.scoremaps.shape[-2:])
        chosen = [records[i] for i in batch.indices.tolist()]
        return torch.stack(
            [part_mask_in_frame(r, parts.get(r.image_id, []), frame) for r in chosen]
        )

    return region


def evaluate_part_whole(
    module,
    datamodule,
    split: str,
    parts: dict[str, list[Box]] | None = None,
    protocol: Protocol | None = None,
    view: View | None = None,
    evaluators: dict[str, Evaluator] | None = None,
) -> dict[str, float]:
    """Protocol metrics of a trained module on a split, plus object and part coverage.

    Args:
        module: a :class:`wsol.lit_module.WSOLLitModule` (its ``method`` is used, GT-known).
        datamodule: the data module holding ``split``.
        split: split name.
        parts: part boxes per image id (``read_parts``); None skips part coverage.
        protocol: the protocol to score with; None: the module's own (its stored validation
            threshold included). A map other than the method's (a ``view``) has its own
            threshold: pass ``module.protocol.replace(loc_threshold=...)``.
        view: what to score of each forward pass (`wsol.evaluation.loop.extra_map_view`);
            None: the method's maps.
        evaluators: more evaluators fed by the same pass (their results are not returned;
            read them from the objects).

    Returns:
        The metrics (``maxboxaccv2``, ``pxap``, ``top1_acc``, ``invalid_cams``, ...),
        ``object_coverage``, ``part_coverage`` (fractions in [0, 1] at the loc threshold) and
        ``coverage_threshold``.
    """
    protocol = module.protocol if protocol is None else protocol
    interval = protocol.cam_curve_interval
    with_masks = datamodule.has_masks(split)
    studies: dict[str, Evaluator] = {"metrics": ProtocolMetrics(protocol, with_masks)}
    if with_masks:
        studies["object"] = RegionCoverage(interval, object_region)
    if parts is not None:
        studies["part"] = RegionCoverage(
            interval, part_region(datamodule.split(split).records, parts)
        )
    studies.update(evaluators or {})
    values = evaluate(
        datamodule.dataloader_for(split),
        studies,
        method=module.method,
        view=view,
        desc=f"evaluating {split}",
    )["metrics"]
    result = {k: float(v) for k, v in values.items() if k != "curves" and v is not None}
    at = result.get("loc_threshold")
    if at is not None:
        result["coverage_threshold"] = at
        for name, key in (("object", "object_coverage"), ("part", "part_coverage")):
            if name in studies:
                result[key] = studies[name].at(at)
    return result
