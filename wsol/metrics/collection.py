"""Every protocol metric of one evaluation split, from a single contour sweep per map.

`WSOLMetrics` is what the LightningModule updates: MaxBoxAccV2, MaxBoxAcc (V1), GT-known /
top-1 / top-5 localization, classification accuracy and, on mask data, PxAP. One
component sweep per score map yields both contour modes, so V2, V1 and localization
share it. All states are fixed-size counts reduced by sum: one instance per split (val,
test) can live inside a LightningModule and DDP gives exactly the one-process result.
"""

from __future__ import annotations

import numpy as np
import torch

from wsol.metrics import checks
from wsol.metrics import functional as F
from wsol.metrics._base import ShapedMetric


class WSOLMetrics(ShapedMetric):
    """The protocol's metrics for one split.

    Args:
        cam_curve_interval: CAM threshold step (0.01 -> 100 thresholds, 0.001 -> 1000).
        iou_thresholds: IoU thresholds (percent) of MaxBoxAccV2.
        with_masks: the split has pixel masks: `update` needs ``gt_masks`` and PxAP is
            reported. Box metrics are then optional (pass ``gt_boxes=None``).
        loc_multi_contour: localization boxes from every contour (True) or only the
            largest contour (False, the classic GT-known / top-1 loc).
    """

    def __init__(
        self,
        cam_curve_interval: float = 0.01,
        iou_thresholds: tuple[float, ...] = (30, 50, 70),
        with_masks: bool = False,
        loc_multi_contour: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.cam_curve_interval = float(cam_curve_interval)
        self.iou_thresholds = tuple(iou_thresholds)
        self.with_masks = bool(with_masks)
        self.loc_multi_contour = bool(loc_multi_contour)
        self._thresholds = F.cam_thresholds(self.cam_curve_interval)
        ious = list(F.iou_fractions(self.iou_thresholds))
        if self.loc_multi_contour and 0.5 not in ious:
            ious.append(0.5)  # localization reads the multi-contour IoU-50 counts
        self._multi_ious = np.array(ious, np.float64)
        self._n_v2 = len(self.iou_thresholds)
        self._single_ious = np.array([0.5])
        self.loc_fixed_index: int | None = None
        t = len(self._thresholds)

        def counts(*shape: int) -> torch.Tensor:
            return torch.zeros(shape, dtype=torch.int64)

        self.add_state("box_v2", counts(len(ious), t), dist_reduce_fx="sum")
        self.add_state("box_v1", counts(1, t), dist_reduce_fx="sum")
        self.add_state("top1_loc", counts(t), dist_reduce_fx="sum")
        self.add_state("top5_loc", counts(t), dist_reduce_fx="sum")
        for name in ("top1_cls", "top5_cls", "n_images", "n_box_images"):
            self.add_state(name, counts(), dist_reduce_fx="sum")
        if self.with_masks:
            self.add_state("hist_fg", counts(t + 2), dist_reduce_fx="sum")
            self.add_state("hist_bg", counts(t + 2), dist_reduce_fx="sum")

    def _result_shapes(self) -> dict[str, tuple[int, ...]]:
        t = len(self._thresholds)
        return {
            "curves/thresholds": (t,),
            "curves/box_acc_v2": (self._n_v2, t),
            "curves/box_acc_v1": (1, t),
            "curves/precision": (t,),
            "curves/recall": (t,),
        }

    def set_loc_threshold(self, threshold: float | None) -> None:
        """Fix the localization threshold (snapped to the grid), e.g. the one chosen on
        validation; None: use the threshold maximizing GT-known loc on this split."""
        self.loc_fixed_index = (
            None if threshold is None else F.snap_threshold(threshold, self._thresholds)
        )
        self._computed = None  # torchmetrics' cached result used the previous setting

    def update(self, scoremaps, gt_boxes, labels, logits, gt_masks=None) -> None:
        """Add one batch.

        Args:
            scoremaps: [N, H, W] float in [0, 1], GT-class CAMs in the evaluation frame.
            gt_boxes: N tensors [K_n, 4] (x0, y0, x1, y1), inclusive pixels, same frame;
                may be None (or all empty) on a mask split.
            labels: [N] ground-truth class indices.
            logits: [N, K] class scores.
            gt_masks: [N, H, W] uint8 (0 background, 1 foreground, 255 ignore); required
                iff ``with_masks``.
        """
        maps = checks.check_scoremaps(scoremaps)
        n = len(maps)
        lab, log = checks.check_labels_logits(labels, logits, n)
        if self.with_masks:
            if gt_masks is None:
                raise ValueError("WSOLMetrics(with_masks=True).update needs gt_masks")
            masks = checks.check_masks(gt_masks, maps.shape)
        elif gt_masks is not None:
            raise ValueError("gt_masks given to WSOLMetrics(with_masks=False); set with_masks")
        no_boxes = gt_boxes is None or (
            self.with_masks
            and len(gt_boxes) == n
            and all(checks.to_numpy(b, "gt_boxes").size == 0 for b in gt_boxes)
        )
        if no_boxes and not self.with_masks:
            raise ValueError("WSOLMetrics.update needs gt_boxes (only mask splits may omit them)")
        boxes = None if no_boxes else checks.check_boxes(gt_boxes, *maps.shape)
        top1, top5 = F.class_hits(lab, log)
        if boxes is not None:
            if self.loc_multi_contour:
                loc = ("multi", ious_index(self._multi_ious, 0.5))
            else:
                loc = ("single", 0)
            counts = F.box_counts(
                maps, *boxes, self._thresholds, self._multi_ious, self._single_ious, loc=loc
            )
            device = self.box_v2.device
            self.box_v2 += torch.from_numpy(counts.multi).to(device)
            self.box_v1 += torch.from_numpy(counts.single).to(device)
            self.top1_loc += torch.from_numpy((counts.loc & top1[:, None]).sum(0)).to(device)
            self.top5_loc += torch.from_numpy((counts.loc & top5[:, None]).sum(0)).to(device)
            self.n_box_images += n
        if self.with_masks:
            fg, bg = F.score_histograms(maps, masks, self.cam_curve_interval)
            self.hist_fg += torch.from_numpy(fg).to(self.hist_fg.device)
            self.hist_bg += torch.from_numpy(bg).to(self.hist_bg.device)
        self.top1_cls += int(top1.sum())
        self.top5_cls += int(top5.sum())
        self.n_images += n

    def compute(self) -> dict:
        """Flat dict of python floats (None where the split has no boxes) plus ``curves``.

        Keys: maxboxaccv2, maxboxaccv2_iou<d> per IoU threshold, maxboxacc (V1, IoU 50),
        best_threshold_v1, gt_known_loc, top1_loc, top5_loc, loc_threshold, top1_acc,
        top5_acc, pxap (with masks), curves = {thresholds [T], box_acc_v2 [D, T],
        box_acc_v1 [1, T], precision [T], recall [T] (with masks)}.
        """
        n = int(self.n_images)
        n_box = int(self.n_box_images)
        if n == 0:
            raise ValueError("WSOLMetrics: no image was given to update()")
        if 0 < n_box < n:
            raise ValueError(f"WSOLMetrics: gt_boxes were given for {n_box} of {n} images")
        out: dict = {"top1_acc": int(self.top1_cls) * 100.0 / n}
        out["top5_acc"] = int(self.top5_cls) * 100.0 / n
        curves: dict = {"thresholds": torch.from_numpy(self._thresholds)}
        box_keys = ["maxboxaccv2", "maxboxacc", "best_threshold_v1", "gt_known_loc"]
        box_keys += [f"maxboxaccv2_iou{_pct(d)}" for d in self.iou_thresholds]
        box_keys += ["top1_loc", "top5_loc", "loc_threshold"]
        out.update(dict.fromkeys(box_keys))
        if n_box:
            out.update(self._box_results(n, curves))
        if self.with_masks:
            pixel = F.pxap_summary(
                self.hist_fg.cpu().numpy(), self.hist_bg.cpu().numpy(), self._thresholds
            )
            out["pxap"] = pixel["value"]
            curves["precision"] = torch.from_numpy(pixel["precision"])
            curves["recall"] = torch.from_numpy(pixel["recall"])
        out["curves"] = curves
        return out

    def _box_results(self, n: int, curves: dict) -> dict:
        thr = self._thresholds
        box_v2 = self.box_v2.cpu().numpy()
        v2 = F.maxboxacc_summary(box_v2[: self._n_v2], n, thr)
        v1 = F.maxboxacc_summary(self.box_v1.cpu().numpy(), n, thr)
        if self.loc_multi_contour:
            gt_known = box_v2[ious_index(self._multi_ious, 0.5)]
        else:
            gt_known = self.box_v1[0].cpu().numpy()
        loc = F.localization_summary(
            gt_known,
            self.top1_loc.cpu().numpy(),
            self.top5_loc.cpu().numpy(),
            int(self.top1_cls),
            int(self.top5_cls),
            n,
            thr,
            self.loc_fixed_index,
        )
        out = {"maxboxaccv2": v2["value"], "maxboxacc": v1["value"]}
        for d, value in zip(self.iou_thresholds, v2["per_iou"], strict=True):
            out[f"maxboxaccv2_iou{_pct(d)}"] = float(value)
        out["best_threshold_v1"] = float(thr[v1["best_threshold_index"][0]])
        out["gt_known_loc"] = loc["gt_known_loc"]
        out["top1_loc"] = loc["top1_loc"]
        out["top5_loc"] = loc["top5_loc"]
        out["loc_threshold"] = loc["threshold"]
        curves["box_acc_v2"] = torch.from_numpy(v2["curve"])
        curves["box_acc_v1"] = torch.from_numpy(v1["curve"])
        return out


def ious_index(ious: np.ndarray, value: float) -> int:
    """Position of an IoU fraction in the list (exact match)."""
    return int(np.flatnonzero(ious == value)[0])


def _pct(d: float) -> str:
    """IoU threshold as written in a key: 50 -> '50', 62.5 -> '62.5'."""
    return str(int(d)) if float(d).is_integer() else str(d)
