"""Score maps that need no model: fixed boxes, and masks seen at class-map resolution.

They bound what localization can get from the geometry alone (a centred box, the full image)
and what a map restricted to the object's part, or covering its whole body, scores once it
has the coarse resolution of a CAM and goes through the same upsampling and normalization.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from wsol.cams.pipeline import scoremaps


def centred_box_map(frame: tuple[int, int], width: float, height: float) -> Tensor:
    """A map that is 1 on a centred box of the given fractions of the frame, 0 elsewhere.

    Args:
        frame: (H, W).
        width, height: box size as fractions in (0, 1] of W and H.

    Returns:
        float64 [H, W]; its box at every threshold is the centred box itself.
    """
    rows, cols = frame
    box_h, box_w = max(1, round(height * rows)), max(1, round(width * cols))
    top, left = (rows - box_h) // 2, (cols - box_w) // 2
    scoremap = torch.zeros(frame, dtype=torch.float64)
    scoremap[top : top + box_h, left : left + box_w] = 1.0
    return scoremap


def full_image_map(frame: tuple[int, int]) -> Tensor:
    """All ones: the box at every threshold is the whole frame, [0, 0, W-1, H-1]."""
    return torch.ones(frame, dtype=torch.float64)


def mask_at_class_map_resolution(masks: Tensor, stride: int) -> tuple[Tensor, Tensor]:
    """Masks averaged over stride x stride cells, then upsampled and normalized like a CAM.

    Args:
        masks: [N, H, W] bool or {0, 1}, H and W multiples of ``stride``.
        stride: the backbone's stride (8 for the tiny backbone: 12x12 maps at 96 px).

    Returns:
        (scoremaps [N, H, W] float64 in [0, 1], invalid [N] bool) as from
        :func:`wsol.cams.pipeline.scoremaps`.
    """
    coarse = F.avg_pool2d(masks.double()[:, None], kernel_size=stride)[:, 0]
    return scoremaps(coarse, tuple(masks.shape[-2:]))
