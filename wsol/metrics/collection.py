"""Every protocol metric of one evaluation split, from a single contour sweep per map.

`WSOLMetrics` is what the LightningModule updates: a torchmetrics `MetricCollection` of the
single metrics (MaxBoxAccV2 and MaxBoxAcc V1 as `MaxBoxAcc`, GT-known / top-1 / top-5
localization and classification as `LocalizationAccuracy`, PxAP on mask data). It only adds
what they cannot do alone: one input check and one contour sweep per score map, planned
from its members' `BoxPlan`s and handed to each member's public ``update`` (V2, V1 and
localization need the same sweep). Their states are fixed-size counts reduced by sum, so
one instance per split (val, test) can live inside a LightningModule and DDP gives exactly
the one-process result; ``compute`` decides what to report from the synced counts, so
every process takes part in the same reductions.
"""

from __future__ import annotations

import torch
from torchmetrics import MetricCollection

from wsol.metrics import checks
from wsol.metrics import functional as F
from wsol.metrics.boxes import MaxBoxAcc
from wsol.metrics.keys import BOX_NAMES, iou_name, named_results
from wsol.metrics.localization import LocalizationAccuracy
from wsol.metrics.masks import PxAP

LOC_IOU = 50  # percent: GT-known, top-1 and top-5 loc and MaxBoxAcc (V1) use IoU 50


class WSOLMetrics(MetricCollection):
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
        plan: the `BoxPlan` of the shared sweep (what its box members count).
    """

    def __init__(
        self,
        cam_curve_interval: float = 0.01,
        iou_thresholds: tuple[float, ...] = (30, 50, 70),
        with_masks: bool = False,
        loc_multi_contour: bool = False,
        **kwargs,
    ) -> None:
        interval = float(cam_curve_interval)
        members = {
            "box_v2": MaxBoxAcc(iou_thresholds, interval, multi_contour=True, **kwargs),
            "box_v1": MaxBoxAcc((LOC_IOU,), interval, multi_contour=False, **kwargs),
            "loc": LocalizationAccuracy(interval, LOC_IOU, loc_multi_contour, **kwargs),
        }
        if with_masks:
            members["pxap"] = PxAP(interval, **kwargs)
        # The members share no state, so torchmetrics' compute groups would find none.
        super().__init__(members, compute_groups=False)
        self.cam_curve_interval = interval
        self.iou_thresholds = members["box_v2"].iou_thresholds
        self.with_masks = bool(with_masks)
        self.plan = F.BoxPlan.merge(*(m.plan for m in members.values() if hasattr(m, "plan")))
        self._thresholds = F.cam_thresholds(interval)

    @property
    def pxap(self) -> PxAP | None:
        """The PxAP member (None without masks)."""
        return self["pxap"] if self.with_masks else None

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
        # Every input is checked before any member is updated: a bad batch changes nothing.
        maps = checks.check_scoremaps(scoremaps)
        n = len(maps)
        checks.check_labels_logits(labels, logits, n)
        if self.with_masks:
            if gt_masks is None:
                raise ValueError("WSOLMetrics(with_masks=True).update needs gt_masks")
            checks.check_masks(gt_masks, maps.shape)
        elif gt_masks is not None:
            raise ValueError("gt_masks given to WSOLMetrics(with_masks=False); set with_masks")
        no_boxes = gt_boxes is None or (
            self.with_masks
            and len(gt_boxes) == n
            and all(checks.to_numpy(b, "gt_boxes").size == 0 for b in gt_boxes)
        )
        if no_boxes and not self.with_masks:
            raise ValueError("WSOLMetrics.update needs gt_boxes (only mask splits may omit them)")
        sweep = None
        if not no_boxes:
            flat, offsets = checks.check_boxes(gt_boxes, *maps.shape)
            sweep = F.box_counts(maps, flat, offsets, self._thresholds, self.plan)
            self.box_v2.update(maps, gt_boxes, sweep=sweep)
            self.box_v1.update(maps, gt_boxes, sweep=sweep)
        self.loc.update(maps, None if no_boxes else gt_boxes, labels, logits, sweep=sweep)
        if self.with_masks:
            self.pxap.update(maps, gt_masks)

    def compute(self) -> dict:
        """Flat dict of python floats (None where the split has no boxes) plus ``curves``.

        Keys: maxboxaccv2, maxboxaccv2_iou<d> per IoU threshold, maxboxacc (V1, IoU 50),
        best_threshold_v1, gt_known_loc, top1_loc, top5_loc, loc_threshold, top1_acc,
        top5_acc, pxap (with masks), curves = {thresholds [T], box_acc_v2 [D, T],
        box_acc_v1 [1, T], precision [T], recall [T] (with masks)}.

        Under DDP every process must call it: the box metrics are computed (and reduced)
        when the split has box images on any process, which the synced localization
        counts say, the same on every process.
        """
        loc = self.loc.compute()
        out: dict = dict.fromkeys([*BOX_NAMES, *map(iou_name, self.iou_thresholds)])
        curves: dict = {"thresholds": torch.from_numpy(self._thresholds)}
        v2 = v1 = pixel = None
        if loc["gt_known_loc"] is not None:  # some process saw box images
            v2, v1 = self.box_v2.compute(), self.box_v1.compute()
            curves.update(box_acc_v2=v2["curve"], box_acc_v1=v1["curve"])
        if self.with_masks:
            pixel = self.pxap.compute()
            curves.update(precision=pixel["precision"], recall=pixel["recall"])
        out.update(named_results(self.iou_thresholds, v2=v2, v1=v1, loc=loc, pxap=pixel))
        out["curves"] = curves
        return out
