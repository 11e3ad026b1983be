"""Ground truth in the evaluation frame, exactly as the WSOL protocol computes it.

The protocol scores maps in a fixed frame (224 x 224 for the real data sets; the image is
resized without keeping its aspect). Ground-truth boxes and masks enter that frame by two
rules that published numbers depend on, reproduced here bit for bit:

- boxes: every coordinate ``x' = int(x * frame_w / w)`` in float64 (float multiply, float
  divide, truncation). ``torchvision``'s box resize multiplies by a float32 ratio and differs
  from this for some (x, w) pairs, so it must not be used for evaluation boxes.
- masks: OpenCV ``INTER_NEAREST`` resizing, whose source index is
  ``min(floor(x * (1 / (dst / src))), src - 1)`` in double precision. The algebraically equal
  ``floor(x * src / dst)`` differs from OpenCV for a few percent of size pairs, so the
  reciprocal form is kept. Then ``> 0.5``; foreground = OR of instances; ignore = ignore mask
  AND NOT foreground; encoded uint8 0 (background), 1 (foreground), 255 (ignore).

Sizes are ``(width, height)`` here, as in the protocol's reference code.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

IGNORE = 255


def boxes_to_frame(
    boxes: Sequence[Sequence[int]] | np.ndarray | Tensor,
    image_size: tuple[int, int],
    frame: tuple[int, int],
) -> Tensor:
    """Map inclusive integer boxes from the original image into the evaluation frame.

    Args:
        boxes: [K, 4] integer boxes (x0, y0, x1, y1), inclusive pixels of the original image.
        image_size: original (width, height).
        frame: evaluation frame (width, height).

    Returns:
        LongTensor [K, 4] in the frame, ``int(x * frame_w / w)`` per coordinate (K may be 0).
    """
    array = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    width, height = (float(v) for v in image_size)
    frame_w, frame_h = (float(v) for v in frame)
    scaled = np.empty_like(array)
    scaled[:, 0::2] = array[:, 0::2] * frame_w / width
    scaled[:, 1::2] = array[:, 1::2] * frame_h / height
    return torch.from_numpy(np.trunc(scaled).astype(np.int64))


def nearest_indices(src: int, dst: int) -> np.ndarray:
    """Source indices OpenCV's INTER_NEAREST reads for each of ``dst`` output positions.

    Returns:
        int64 array [dst] with values in [0, src - 1].
    """
    inverse_scale = 1.0 / (dst / src)
    index = np.floor(np.arange(dst, dtype=np.float64) * inverse_scale).astype(np.int64)
    return np.minimum(index, src - 1)


def resize_nearest(array: np.ndarray, frame: tuple[int, int]) -> np.ndarray:
    """Resize a [h, w] array to ``frame`` (width, height) like ``cv2.resize(INTER_NEAREST)``."""
    frame_w, frame_h = frame
    rows = nearest_indices(array.shape[0], frame_h)
    cols = nearest_indices(array.shape[1], frame_w)
    return array[rows[:, None], cols[None, :]]


def mask_to_frame(
    instance_masks: Sequence[np.ndarray],
    ignore_mask: np.ndarray | None,
    frame: tuple[int, int],
) -> Tensor:
    """Combine instance masks and the ignore mask into the protocol's GT mask in the frame.

    Args:
        instance_masks: [h, w] arrays (uint8 grey levels as read from the PNGs; each may have
            its own size); a pixel > 0.5 after resizing is foreground.
        ignore_mask: [h, w] array (> 0.5 means ignored), or None for no ignored pixels.
        frame: evaluation frame (width, height).

    Returns:
        uint8 tensor [frame_h, frame_w]: 0 background, 1 foreground, 255 ignore.
    """
    frame_w, frame_h = frame
    foreground = np.zeros((frame_h, frame_w), dtype=bool)
    for mask in instance_masks:
        foreground |= resize_nearest(np.asarray(mask), frame) > 0.5
    out = foreground.astype(np.uint8)
    if ignore_mask is not None:
        ignore = (resize_nearest(np.asarray(ignore_mask), frame) > 0.5) & ~foreground
        out[ignore] = IGNORE
    return torch.from_numpy(out)
