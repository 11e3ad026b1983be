"""Predicted boxes of a score map: the protocol's own extraction, and the way back to the image.

Boxes come from :func:`wsol.metrics.functional.boxes_at_threshold`, the metrics' own rules, so
a box drawn in TensorBoard or written by ``wsol-predict`` is exactly a box the metrics count
(quantization, strict threshold, contours, the +1 right/bottom quirk; docs/protocol.md#boxes).

Back to the original image (:func:`boxes_to_original`): the evaluation frame is the original
image resized to S_h x S_w without keeping the aspect (pixel edges map onto pixel edges), so
frame pixel column ``x`` covers original columns ``[x * W / S_w, (x + 1) * W / S_w)``. An
inclusive frame box ``x0..x1`` becomes the inclusive original box of the pixels it covers:
``X0 = floor(x0 * W / S_w)``, ``X1 = ceil((x1 + 1) * W / S_w) - 1`` (same for y with H / S_h),
clipped to the image. When the image already has the frame's size this is the identity.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from wsol.metrics.functional import boxes_at_threshold


def cam_boxes(scoremap: Tensor | np.ndarray, threshold: float, multi_contour: bool) -> Tensor:
    """Boxes of one score map at one CAM threshold, as the protocol extracts them.

    Args:
        scoremap: [H, W] float in [0, 1] (the protocol's score map, in its frame).
        threshold: CAM threshold in [0, 1).
        multi_contour: every contour's box (MaxBoxAccV2's mode) or only the largest-area
            contour's (MaxBoxAcc / GT-known loc's classic mode).

    Returns:
        LongTensor [K, 4] inclusive (x0, y0, x1, y1) in the map's frame; ``[[0, 0, 0, 0]]``
        when nothing is above the threshold (the protocol's convention).
    """
    array = scoremap.detach().cpu().numpy() if isinstance(scoremap, Tensor) else scoremap
    if array.ndim != 2:
        raise ValueError(f"scoremap must be [H, W], got shape {tuple(array.shape)}")
    boxes = boxes_at_threshold(np.ascontiguousarray(array), float(threshold), bool(multi_contour))
    return torch.as_tensor(np.asarray(boxes), dtype=torch.int64).reshape(-1, 4)


def boxes_to_original(boxes: Tensor, frame: Sequence[int], image_size: Sequence[int]) -> Tensor:
    """Map inclusive frame boxes to the inclusive original-image boxes they cover.

    Args:
        boxes: [K, 4] integer (x0, y0, x1, y1), inclusive, in the frame.
        frame: evaluation frame (height, width).
        image_size: original image (height, width).

    Returns:
        LongTensor [K, 4] inclusive, within ``[0, W - 1] x [0, H - 1]`` (module docstring rule).
    """
    frame_h, frame_w = (int(v) for v in frame)
    height, width = (int(v) for v in image_size)
    out = []
    for x0, y0, x1, y1 in torch.as_tensor(boxes).reshape(-1, 4).tolist():
        out.append(
            [
                _start(x0, width, frame_w),
                _start(y0, height, frame_h),
                _end(x1, width, frame_w),
                _end(y1, height, frame_h),
            ]
        )
    return torch.tensor(out, dtype=torch.int64).reshape(-1, 4)


def _start(x: int, size: int, frame: int) -> int:
    # Exact integer arithmetic: floor(x * size / frame).
    return min(max((x * size) // frame, 0), size - 1)


def _end(x: int, size: int, frame: int) -> int:
    # ceil((x + 1) * size / frame) - 1, exact in integers.
    return min(max(-((-(x + 1) * size) // frame) - 1, 0), size - 1)


__all__ = ["boxes_to_original", "cam_boxes"]
