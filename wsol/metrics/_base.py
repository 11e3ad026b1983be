"""Base class of the protocol metrics: torchmetrics, with result shapes kept as declared.

torchmetrics squeezes every one-element tensor of a ``compute()`` result, so MaxBoxAcc
with one IoU threshold would return ``per_iou`` as a scalar instead of shape [1]. The
metrics declare their result shapes (`result_shapes`) and this base wraps the public
``compute`` that torchmetrics hands out (after its own wrapper, so after the squeezing)
to restore them; the wrapping is redone when a copy or an unpickled metric is built.
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

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.compute = _keep_shapes(self.compute, self.result_shapes)

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)  # re-wraps update and compute (torchmetrics)
        self.compute = _keep_shapes(self.compute, self.result_shapes)

    def result_shapes(self) -> dict[str, tuple[int, ...]]:
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


def _keep_shapes(compute: Callable, shapes: Callable[[], dict]) -> Callable:
    @functools.wraps(compute)
    def shaped(*args, **kwargs):
        return _reshape(compute(*args, **kwargs), shapes(), "")

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
