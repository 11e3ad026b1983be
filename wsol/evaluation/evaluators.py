"""The protocol's metrics as an evaluator, built from a `Protocol`.

`protocol_metrics` is the one factory of `wsol.metrics.WSOLMetrics` from a protocol (every
consumer builds its metrics through it, so none lists the settings). `ProtocolMetrics` feeds
them from `EvalBatch` es and counts the maps that could not be normalized (scored as zeros):
``compute()`` returns WSOLMetrics' keys plus ``invalid_cams``.
"""

from __future__ import annotations

import torch
from torch import nn
from torchmetrics import SumMetric

from wsol.evaluation.loop import EvalBatch, Evaluator
from wsol.evaluation.protocol import Protocol
from wsol.metrics import WSOLMetrics

#: Results that need the images' labels and logits: None when scored without them.
CLASS_KEYS = ("top1_loc", "top5_loc", "top1_acc", "top5_acc")


def protocol_metrics(protocol: Protocol, with_masks: bool, **kwargs) -> WSOLMetrics:
    """`WSOLMetrics` under ``protocol`` (its ``loc_threshold`` fixes the loc threshold).

    Args:
        protocol: the evaluation protocol.
        with_masks: the split has pixel masks (PxAP).
        **kwargs: torchmetrics options (``sync_on_compute``, ...).
    """
    metrics = WSOLMetrics(
        cam_curve_interval=protocol.cam_curve_interval,
        iou_thresholds=protocol.iou_thresholds,
        with_masks=with_masks,
        loc_multi_contour=protocol.loc_multi_contour,
        **kwargs,
    )
    metrics.loc.set_threshold(protocol.loc_threshold)
    return metrics


class ProtocolMetrics(nn.Module, Evaluator):
    """MaxBoxAccV2, MaxBoxAcc, GT-known/top-1/top-5 loc, accuracy, PxAP and the invalid count.

    An ``nn.Module`` so that a LightningModule holds it (device moves, DDP sync of the
    torchmetrics states).

    Args:
        protocol: the evaluation protocol.
        with_masks: the split has pixel masks (PxAP).
        with_labels: batches come with labels and logits; False (saved maps): GT-known
            numbers only, the class-dependent keys (`CLASS_KEYS`) are None.
    """

    def __init__(self, protocol: Protocol, with_masks: bool = False, with_labels: bool = True):
        super().__init__()
        self.protocol = protocol
        self.with_masks = bool(with_masks)
        self.with_labels = bool(with_labels)
        self.metrics = protocol_metrics(protocol, self.with_masks)
        self.invalid = SumMetric()

    def set_threshold(self, threshold: float | None) -> None:
        """Fix the loc metrics' CAM threshold (None: the split's own optimum)."""
        self.protocol = self.protocol.replace(loc_threshold=threshold)
        self.metrics.loc.set_threshold(threshold)

    def process(self, batch: EvalBatch) -> None:
        maps = batch.scoremaps
        labels, logits = batch.labels, batch.logits
        if not self.with_labels:
            # GT-known maps need no class: one placeholder class that is always "predicted",
            # so the sweep still gives GT-known loc; class-dependent keys are dropped.
            labels = torch.zeros(len(maps), dtype=torch.long, device=maps.device)
            logits = torch.zeros(len(maps), 1, device=maps.device)
        elif labels is None or logits is None:
            raise ValueError(
                "ProtocolMetrics: the batch has no labels/logits; build it with with_labels=False"
            )
        self.metrics.update(maps, batch.gt_boxes, labels, logits, gt_masks=batch.gt_masks)
        self.invalid.update(batch.invalid.sum().to(torch.float64))

    def compute(self) -> dict:
        """`WSOLMetrics.compute` keys (synced across processes) plus ``invalid_cams``."""
        values = self.metrics.compute()
        values["invalid_cams"] = float(self.invalid.compute())
        if not self.with_labels:
            values.update(dict.fromkeys(CLASS_KEYS))
        return values

    def reset(self) -> None:
        self.metrics.reset()
        self.invalid.reset()


__all__ = ["CLASS_KEYS", "ProtocolMetrics", "protocol_metrics"]
