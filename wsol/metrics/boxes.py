"""MaxBoxAcc (V1: largest contour, IoU 50) and MaxBoxAccV2 (all contours, IoU 30/50/70).

One torchmetrics metric, the contour mode and IoU thresholds chosen by arguments. State:
images correct per (IoU threshold, CAM threshold) and the image count, summed across
processes, so memory does not grow with the data set and DDP equals one process.
"""

from __future__ import annotations

import torch

from wsol.metrics import checks
from wsol.metrics import functional as F
from wsol.metrics._base import ShapedMetric


class MaxBoxAcc(ShapedMetric):
    """Best-threshold box accuracy of CAM score maps against ground-truth boxes.

    Args:
        iou_thresholds: IoU thresholds in percent; ``value`` averages their maxima.
        cam_curve_interval: CAM threshold step (0.01 -> 100 thresholds, 0.001 -> 1000).
        multi_contour: keep every contour's box (MaxBoxAccV2) or only the largest
            contour's (MaxBoxAcc, V1).

    Example:
        ``MaxBoxAcc((30, 50, 70), 0.01, multi_contour=True)`` is MaxBoxAccV2;
        ``MaxBoxAcc((50,), 0.01, multi_contour=False)`` is the classic MaxBoxAcc.
    """

    def __init__(
        self,
        iou_thresholds: tuple[float, ...] = (30, 50, 70),
        cam_curve_interval: float = 0.01,
        multi_contour: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.iou_thresholds = tuple(float(d) for d in iou_thresholds)
        self._set_grid(cam_curve_interval)
        self.multi_contour = bool(multi_contour)
        self.plan = F.BoxPlan.request(self.multi_contour, self.iou_thresholds)
        self._add_counts(correct=(len(self.iou_thresholds), len(self._thresholds)), n_images=())

    def result_shapes(self) -> dict[str, tuple[int, ...]]:
        d, t = self.correct.shape
        return {"per_iou": (d,), "curve": (d, t), "thresholds": (t,), "best_threshold_index": (d,)}

    def update(self, scoremaps: torch.Tensor, gt_boxes, sweep: F.BoxCounts | None = None) -> None:
        """Count the images correct at every (IoU, CAM threshold).

        Args:
            scoremaps: [N, H, W] float in [0, 1], in the evaluation frame.
            gt_boxes: N tensors [K_n, 4] (x0, y0, x1, y1), inclusive pixels, same frame.
            sweep: the counts of these maps and boxes from a sweep whose plan includes
                this metric's (`WSOLMetrics` sweeps once for all its metrics); None:
                check the inputs and sweep here.
        """
        if sweep is None:
            maps = checks.check_scoremaps(scoremaps)
            flat, offsets = checks.check_boxes(gt_boxes, *maps.shape)
            sweep = F.box_counts(maps, flat, offsets, self._thresholds, self.plan)
        correct = sweep.correct(self.multi_contour, self.iou_thresholds)
        self.correct += torch.from_numpy(correct).to(self.correct.device)
        self.n_images += sweep.n_images

    def compute(self) -> dict:
        """``value``, ``per_iou`` [D], ``curve`` [D, T] (percent), ``thresholds`` [T],
        ``best_threshold_index`` [D] (ties: lowest index)."""
        summary = F.maxboxacc_summary(
            self.correct.cpu().numpy(), int(self.n_images), self._thresholds
        )
        return {
            "value": torch.tensor(summary["value"], dtype=torch.float64),
            "per_iou": torch.from_numpy(summary["per_iou"]),
            "curve": torch.from_numpy(summary["curve"]),
            "thresholds": torch.from_numpy(summary["thresholds"]),
            "best_threshold_index": torch.from_numpy(summary["best_threshold_index"]),
        }
