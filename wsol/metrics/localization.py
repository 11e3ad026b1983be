"""GT-known, top-1 and top-5 localization accuracy, with top-1/top-5 classification.

All three localization numbers are read at one CAM threshold: the one maximizing GT-known
localization (box IoU >= 50) on the split itself, or a threshold fixed beforehand with
`set_threshold` (the one chosen on validation, as the protocol asks). Classification is
counted on every image; localization on the images given with boxes (a mask-only split has
none). States are per-threshold counts summed across processes.
"""

from __future__ import annotations

import torch

from wsol.metrics import checks
from wsol.metrics import functional as F
from wsol.metrics._base import ShapedMetric


class LocalizationAccuracy(ShapedMetric):
    """Box-and-class localization accuracy at one CAM threshold.

    Args:
        cam_curve_interval: CAM threshold step.
        iou_threshold: IoU threshold in percent for a correct box (50 in the protocol).
        multi_contour: boxes from every contour (True) or only the largest (False, the
            classic GT-known / top-1 loc).
    """

    def __init__(
        self,
        cam_curve_interval: float = 0.01,
        iou_threshold: float = 50,
        multi_contour: bool = False,
        **kwargs,
    ) -> None:
        # The reported threshold is a setting (`set_threshold`) that compute() reads: a
        # cached result would outlive a change of it.
        kwargs.setdefault("compute_with_cache", False)
        super().__init__(**kwargs)
        self._set_grid(cam_curve_interval)
        self.iou_threshold = float(iou_threshold)
        self.multi_contour = bool(multi_contour)
        self.plan = F.BoxPlan.request(self.multi_contour, (self.iou_threshold,), per_image=True)
        self.fixed_index: int | None = None
        t = (len(self._thresholds),)
        self._add_counts(gt_known=t, top1_loc=t, top5_loc=t)  # per CAM threshold
        self._add_counts(top1_cls=(), top5_cls=(), n_images=(), n_box_images=())

    def set_threshold(self, threshold: float | None) -> None:
        """Report at the grid threshold nearest to ``threshold`` (e.g. the one chosen on
        validation); None: the threshold maximizing GT-known loc on this split. A setting, not
        a state: ``reset`` keeps it."""
        if threshold is None:
            self.fixed_index = None
        else:
            self.fixed_index = F.snap_threshold(threshold, self._thresholds)

    def result_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"gt_known_curve": (len(self._thresholds),)}

    def update(
        self,
        scoremaps: torch.Tensor,
        gt_boxes,
        labels: torch.Tensor,
        logits,
        sweep: F.BoxCounts | None = None,
    ) -> None:
        """Count box-correct and class-correct images at every CAM threshold.

        Args:
            scoremaps: [N, H, W] float in [0, 1], the CAMs of the ground-truth classes.
            gt_boxes: N tensors [K_n, 4] (x0, y0, x1, y1), inclusive, same frame; None for
                images without boxes (a mask split): classification only.
            labels: [N] ground-truth class indices.
            logits: [N, K] class scores (top-5 is top-K when K < 5).
            sweep: the counts of these maps and boxes from a sweep whose plan includes
                this metric's (`WSOLMetrics` sweeps once for all its metrics); None:
                check the inputs and sweep here.
        """
        if sweep is None:
            maps = checks.check_scoremaps(scoremaps)
            n = len(maps)
            if gt_boxes is not None:
                flat, offsets = checks.check_boxes(gt_boxes, *maps.shape)
        else:
            n = sweep.n_images
        top1, top5 = F.class_hits(*checks.check_labels_logits(labels, logits, n))
        if sweep is None and gt_boxes is not None:
            sweep = F.box_counts(maps, flat, offsets, self._thresholds, self.plan)
        device = self.gt_known.device
        if sweep is not None:
            box_ok = sweep.rows(self.multi_contour, self.iou_threshold)
            self.gt_known += torch.from_numpy(box_ok.sum(0)).to(device)
            self.top1_loc += torch.from_numpy((box_ok & top1[:, None]).sum(0)).to(device)
            self.top5_loc += torch.from_numpy((box_ok & top5[:, None]).sum(0)).to(device)
            self.n_box_images += len(box_ok)
        self.top1_cls += int(top1.sum())
        self.top5_cls += int(top5.sum())
        self.n_images += n

    def compute(self) -> dict:
        """gt_known_loc, top1_loc, top5_loc, top1_acc, top5_acc (percent, python floats),
        threshold (the CAM threshold used), threshold_index, gt_known_curve [T]; the
        localization entries are None when no image came with boxes."""
        n, n_box = int(self.n_images), int(self.n_box_images)
        if 0 < n_box < n:
            raise ValueError(
                f"{type(self).__name__}: gt_boxes were given for {n_box} of {n} images"
            )
        summary = F.localization_summary(
            self.gt_known.cpu().numpy(),
            self.top1_loc.cpu().numpy(),
            self.top5_loc.cpu().numpy(),
            int(self.top1_cls),
            int(self.top5_cls),
            n,
            self._thresholds,
            self.fixed_index,
        )
        if n_box == 0:
            for key in ("gt_known_loc", "top1_loc", "top5_loc", "threshold", "threshold_index"):
                summary[key] = None
            summary["gt_known_curve"] = None
        else:
            summary["gt_known_curve"] = torch.from_numpy(summary["gt_known_curve"])
        return summary
