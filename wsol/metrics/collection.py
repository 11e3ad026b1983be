"""Every protocol metric of one evaluation split, from a single contour sweep per map.

`WSOLMetrics` is what the LightningModule updates. It holds the single metrics (MaxBoxAccV2
and MaxBoxAcc V1 as `MaxBoxAcc`, GT-known / top-1 / top-5 localization and classification as
`LocalizationAccuracy`, PxAP on mask data) and only adds what they cannot do alone: one input
check and one contour sweep per score map, whose counts feed all of them (V2, V1 and
localization need the same sweep). Their states are fixed-size counts reduced by sum, so one
instance per split (val, test) can live inside a LightningModule and DDP gives exactly the
one-process result.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from wsol.metrics import checks
from wsol.metrics import functional as F
from wsol.metrics.boxes import MaxBoxAcc
from wsol.metrics.keys import BOX_NAMES, iou_name, named_results
from wsol.metrics.localization import LocalizationAccuracy
from wsol.metrics.masks import PxAP

LOC_IOU = 50  # percent: GT-known, top-1 and top-5 loc and MaxBoxAcc (V1) use IoU 50


class WSOLMetrics(nn.Module):
    """The protocol's metrics for one split.

    Args:
        cam_curve_interval: CAM threshold step (0.01 -> 100 thresholds, 0.001 -> 1000).
        iou_thresholds: IoU thresholds (percent) of MaxBoxAccV2.
        with_masks: the split has pixel masks: `update` needs ``gt_masks`` and PxAP is
            reported. Box metrics are then optional (pass ``gt_boxes=None``).
        loc_multi_contour: localization boxes from every contour (True) or only the
            largest contour (False, the classic GT-known / top-1 loc).
        **kwargs: torchmetrics options of every metric (``sync_on_compute``, ...).

    Attributes:
        box_v2, box_v1, loc, pxap: the single metrics (``pxap`` is None without masks);
            ``loc.set_threshold`` fixes the localization threshold.
    """

    def __init__(
        self,
        cam_curve_interval: float = 0.01,
        iou_thresholds: tuple[float, ...] = (30, 50, 70),
        with_masks: bool = False,
        loc_multi_contour: bool = False,
        **kwargs,
    ) -> None:
        super().__init__()
        interval = float(cam_curve_interval)
        self.iou_thresholds = tuple(iou_thresholds)
        self.with_masks = bool(with_masks)
        self.box_v2 = MaxBoxAcc(self.iou_thresholds, interval, multi_contour=True, **kwargs)
        self.box_v1 = MaxBoxAcc((LOC_IOU,), interval, multi_contour=False, **kwargs)
        self.loc = LocalizationAccuracy(interval, LOC_IOU, loc_multi_contour, **kwargs)
        self.pxap = PxAP(interval, **kwargs) if self.with_masks else None
        ious = list(F.iou_fractions(self.iou_thresholds))
        loc_iou = float(F.iou_fractions((LOC_IOU,))[0])
        if loc_multi_contour and loc_iou not in ious:
            ious.append(loc_iou)  # localization reads the multi-contour IoU-50 counts
        self._multi_ious = np.array(ious, np.float64)
        self._single_ious = F.iou_fractions((LOC_IOU,))
        self._loc = ("multi", ious.index(loc_iou)) if loc_multi_contour else ("single", 0)
        self._thresholds = F.cam_thresholds(interval)

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
        box_ok = None
        if not no_boxes:
            flat, offsets = checks.check_boxes(gt_boxes, *maps.shape)
            counts = F.box_counts(
                maps, flat, offsets, self._thresholds, self._multi_ious, self._single_ious,
                loc=self._loc,
            )  # fmt: skip
            self.box_v2.add_counts(counts.multi[: len(self.iou_thresholds)], n)
            self.box_v1.add_counts(counts.single, n)
            box_ok = counts.loc
        self.loc.add_hits(box_ok, *F.class_hits(lab, log))
        if self.pxap is not None:
            self.pxap.add_histograms(*F.score_histograms(maps, masks, self.pxap.cam_curve_interval))

    def compute(self) -> dict:
        """Flat dict of python floats (None where the split has no boxes) plus ``curves``.

        Keys: maxboxaccv2, maxboxaccv2_iou<d> per IoU threshold, maxboxacc (V1, IoU 50),
        best_threshold_v1, gt_known_loc, top1_loc, top5_loc, loc_threshold, top1_acc,
        top5_acc, pxap (with masks), curves = {thresholds [T], box_acc_v2 [D, T],
        box_acc_v1 [1, T], precision [T], recall [T] (with masks)}.
        """
        loc = self.loc.compute()
        out: dict = dict.fromkeys([*BOX_NAMES, *map(iou_name, self.iou_thresholds)])
        curves: dict = {"thresholds": torch.from_numpy(self._thresholds)}
        v2 = v1 = pixel = None
        if int(self.loc.n_box_images):
            v2, v1 = self.box_v2.compute(), self.box_v1.compute()
            curves.update(box_acc_v2=v2["curve"], box_acc_v1=v1["curve"])
        if self.pxap is not None:
            pixel = self.pxap.compute()
            curves.update(precision=pixel["precision"], recall=pixel["recall"])
        out.update(named_results(self.iou_thresholds, v2=v2, v1=v1, loc=loc, pxap=pixel))
        out["curves"] = curves
        return out

    def reset(self) -> None:
        """Clear every metric's counts (the localization threshold setting is kept)."""
        for metric in (self.box_v2, self.box_v1, self.loc, self.pxap):
            if metric is not None:
                metric.reset()
