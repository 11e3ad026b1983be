"""Base class of the protocol metrics: torchmetrics, with result shapes kept as declared.

torchmetrics squeezes every one-element tensor of a ``compute()`` result, so MaxBoxAcc
with one IoU threshold would return ``per_iou`` as a scalar instead of shape [1]. The
metrics declare their result shapes and this base restores them after torchmetrics'
wrapper (which is re-applied on unpickling, so the restoring is too).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import Tensor
from torchmetrics import Metric

from wsol.metrics import functional as F


class ShapedMetric(Metric):
    """A torchmetrics Metric whose ``compute()`` tensors keep their declared shapes."""

    full_state_update = False
    higher_is_better = True
    is_differentiable = False

    def _result_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shapes of the result tensors by key ("curves/thresholds" for nested dicts)."""
        return {}

    def _set_grid(self, cam_curve_interval: float) -> None:
        """The CAM threshold step and its thresholds ``np.arange(0, 1, interval)``."""
        self.cam_curve_interval = float(cam_curve_interval)
        self._thresholds = F.cam_thresholds(self.cam_curve_interval)

    def _add_counts(self, **shapes: tuple[int, ...]) -> None:
        """Add int64 count states of the given shapes, summed across processes."""
        for name, shape in shapes.items():
            self.add_state(name, torch.zeros(shape, dtype=torch.int64), dist_reduce_fx="sum")

    def _record_update(self) -> None:
        """What torchmetrics' wrapped ``update`` records, for states added by another path
        (`WSOLMetrics` feeding its metrics from one shared sweep): drop the cached result."""
        self._update_count += 1
        self._computed = None

    def _wrap_compute(self, compute: Callable) -> Callable:
        wrapped = super()._wrap_compute(compute)

        @functools.wraps(compute)
        def shaped(*args, **kwargs):
            return _reshape(wrapped(*args, **kwargs), self._result_shapes(), "")

        return shaped


def _reshape(value, shapes: dict[str, tuple[int, ...]], prefix: str):
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        path = f"{prefix}{key}"
        if isinstance(item, dict):
            out[key] = _reshape(item, shapes, f"{path}/")
        elif isinstance(item, Tensor) and path in shapes:
            out[key] = item.reshape(shapes[path])
        else:
            out[key] = item
    return out
