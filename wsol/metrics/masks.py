"""PxAP: average precision of pixel scores against ground-truth masks (OpenImages protocol).

State: histograms of the raw scores of foreground and background pixels over the CAM
threshold bins, summed across processes (fixed size, DDP equals one process).
"""

from __future__ import annotations

import numpy as np
import torch

from wsol.metrics import checks
from wsol.metrics import functional as F
from wsol.metrics._base import ShapedMetric


class PxAP(ShapedMetric):
    """Pixel average precision (percent) over the precision-recall curve of CAM thresholds.

    Args:
        cam_curve_interval: CAM threshold step (0.01 -> 100 thresholds, 0.001 -> 1000).
    """

    def __init__(self, cam_curve_interval: float = 0.01, **kwargs) -> None:
        super().__init__(**kwargs)
        self._set_grid(cam_curve_interval)
        n_bins = len(self._thresholds) + 2
        self._add_counts(hist_fg=(n_bins,), hist_bg=(n_bins,))

    def result_shapes(self) -> dict[str, tuple[int, ...]]:
        t = len(self._thresholds)
        return {"precision": (t,), "recall": (t,), "thresholds": (t,)}

    def update(self, scoremaps: torch.Tensor, gt_masks: torch.Tensor) -> None:
        """Add the batch's pixel scores to the histograms.

        Args:
            scoremaps: [N, H, W] float in [0, 1].
            gt_masks: [N, H, W] uint8: 0 background, 1 foreground, 255 ignore.
        """
        # Shapes and dtypes here; the values are checked by the binning on its way (one
        # pass over the pixels), with the same errors in the same order.
        maps = checks.check_scoremaps(scoremaps, values=False)
        try:
            masks = checks.check_masks(gt_masks, maps.shape, values=False)
        except (TypeError, ValueError):
            checks.check_scoremap_values(maps)  # a bad score map is reported first
            raise
        self._add(*F.score_histograms(maps, masks, self.cam_curve_interval))

    def _add(self, hist_fg: np.ndarray, hist_bg: np.ndarray) -> None:
        self.hist_fg += torch.from_numpy(hist_fg).to(self.hist_fg.device)
        self.hist_bg += torch.from_numpy(hist_bg).to(self.hist_bg.device)

    def compute(self) -> dict:
        """``value`` (percent), ``precision`` and ``recall`` [T] at score >= each threshold,
        ``thresholds`` [T]. No foreground pixel in the whole set raises ValueError."""
        summary = F.pxap_summary(
            self.hist_fg.cpu().numpy(), self.hist_bg.cpu().numpy(), self._thresholds
        )
        return {
            "value": torch.tensor(summary["value"], dtype=torch.float64),
            "precision": torch.from_numpy(summary["precision"]),
            "recall": torch.from_numpy(summary["recall"]),
            "thresholds": torch.from_numpy(summary["thresholds"]),
        }
