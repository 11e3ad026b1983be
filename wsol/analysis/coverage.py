"""How much of a region a thresholded score map covers, with the protocol's threshold rule.

A map that fires on an object's discriminative part alone covers the part but little of the
object: the fraction of the object mask and of the part mask above the threshold tells the two
apart, where a box IoU only says that the box is too small.

`RegionCoverage` is the evaluator form (`wsol.evaluation.loop.Evaluator`) fed by the one
evaluation entry: the region of each batch (the object mask, the part boxes) comes from a
function of the `EvalBatch`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor
from torchmetrics import Metric

from wsol.evaluation.loop import EvalBatch, Evaluator
from wsol.metrics.functional import cam_thresholds, quantize


def covered_fractions(scoremaps: np.ndarray, masks: np.ndarray, thresholds: np.ndarray):
    """Per image and threshold, the fraction of the mask in the map's foreground.

    Foreground at threshold t is the protocol's ``u8 > int(t * max(u8))``.

    Args:
        scoremaps: [N, H, W] float in [0, 1].
        masks: [N, H, W] bool; images with an empty mask are left out.
        thresholds: [T] CAM thresholds.

    Returns:
        (fractions [N', T], kept [N] bool): fractions of the images with a non-empty mask.
    """
    u8 = quantize(scoremaps)
    masks = masks.astype(bool)
    kept = masks.reshape(len(masks), -1).any(axis=1)
    rows = []
    for n in np.flatnonzero(kept):
        values = u8[n][masks[n]]
        counts = np.bincount(values, minlength=256)
        above = values.size - np.cumsum(counts)  # above[c] = pixels with u8 > c
        cutoffs = (thresholds * int(u8[n].max())).astype(np.int64)
        rows.append(above[cutoffs] / values.size)
    fractions = np.stack(rows) if rows else np.zeros((0, len(thresholds)))
    return fractions, kept


class MaskCoverage(Metric):
    """Mean fraction of a mask covered by the thresholded maps, at every CAM threshold.

    States are sums (DDP-exact). ``compute()`` returns ``{"coverage": [T] in [0, 1],
    "thresholds": [T], "images": number of images with a non-empty mask}``.
    """

    full_state_update = False

    def __init__(self, cam_curve_interval: float = 0.01) -> None:
        super().__init__()
        self._thresholds = cam_thresholds(cam_curve_interval)
        size = len(self._thresholds)
        self.add_state("covered", torch.zeros(size, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("images", torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")

    def update(self, scoremaps: Tensor, masks: Tensor) -> None:
        """Args: scoremaps: [N, H, W] in [0, 1]; masks: [N, H, W] bool (empty masks skipped)."""
        fractions, kept = covered_fractions(
            scoremaps.detach().cpu().numpy(), masks.cpu().numpy(), self._thresholds
        )
        self.covered += torch.from_numpy(fractions.sum(axis=0)).to(self.covered)
        self.images += int(kept.sum())

    def compute(self) -> dict:
        images = int(self.images)
        coverage = self.covered / images if images else torch.full_like(self.covered, np.nan)
        return {
            "coverage": coverage,
            "thresholds": torch.from_numpy(self._thresholds),
            "images": images,
        }

    def at(self, threshold: float) -> float:
        """Mean coverage at the grid threshold nearest to ``threshold``."""
        result = self.compute()
        index = int(np.abs(self._thresholds - threshold).argmin())
        return float(result["coverage"][index])


def object_region(batch: EvalBatch) -> Tensor:
    """The object (foreground) pixels of a mask split: [B, H, W] bool."""
    if batch.gt_masks is None:
        raise ValueError("object coverage needs a split with masks (batch gt_masks)")
    return batch.gt_masks == 1


class RegionCoverage(Evaluator):
    """`MaskCoverage` of the region ``region(batch)`` [B, H, W] bool, as an evaluator.

    ``compute()`` returns `MaskCoverage.compute`'s dict; ``at(threshold)`` one value.
    """

    def __init__(self, cam_curve_interval: float, region: Callable[[EvalBatch], Tensor]):
        self.coverage = MaskCoverage(cam_curve_interval)
        self.region = region

    def process(self, batch: EvalBatch) -> None:
        self.coverage.update(batch.scoremaps, self.region(batch))

    def compute(self) -> dict:
        return self.coverage.compute()

    def at(self, threshold: float) -> float:
        return self.coverage.at(threshold)

    def reset(self) -> None:
        self.coverage.reset()
