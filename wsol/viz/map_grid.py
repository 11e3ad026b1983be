"""A grid comparing several score maps of the same images: one row per image, one column per map.

Every tile is a heatmap overlay (:func:`wsol.viz.overlay.heatmap_overlay`) with the image's GT boxes
(green) and, optionally, its part boxes (magenta); a caption strip names the column. The first
column shows the plain image with the same boxes. Used for method comparisons: the maps of
several methods, or a method's scored map next to the extra maps it declares.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor
from torchvision.utils import make_grid

from wsol.viz.overlay import GT_COLOR, NEUTRAL_COLOR, add_caption, draw_boxes, heatmap_overlay
from wsol.viz.panel import enlarge

#: Part boxes (the discriminative part of the synthetic benchmark's objects).
PART_COLOR = (255, 0, 255)


def map_comparison_grid(
    images: Tensor,
    gt_boxes: Sequence[Tensor],
    maps: Mapping[str, Tensor],
    lut: Tensor,
    part_boxes: Sequence[Tensor] | None = None,
    factor: int = 2,
    alpha: float = 0.5,
    image_captions: Sequence[str] | None = None,
) -> Tensor:
    """Rows of [image, map 1, map 2, ...] tiles.

    Args:
        images: uint8 [N, 3, H, W].
        gt_boxes: N tensors [K_n, 4] of inclusive boxes in the frame.
        maps: column caption -> [N, H, W] score maps in [0, 1], in column order.
        lut: uint8 [256, 3] colormap table.
        part_boxes: N tensors [P_n, 4] drawn in :data:`PART_COLOR`, or None.
        factor: integer nearest-neighbour enlargement of every tile (after drawing).
        alpha: heatmap weight.
        image_captions: caption of each row's first tile (default ``"image <n>"``).

    Returns:
        uint8 [3, H', W'] grid with ``1 + len(maps)`` columns and N rows.
    """
    n = len(images)
    if len(gt_boxes) != n or (part_boxes is not None and len(part_boxes) != n):
        raise ValueError(f"need one set of boxes per image ({n})")
    for name, values in maps.items():
        if tuple(values.shape) != (n, *images.shape[-2:]):
            raise ValueError(f"map {name!r} is {tuple(values.shape)}, expected [N, H, W]")
    blank = torch.zeros(images.shape[-2:])
    tiles = []
    for i in range(n):
        parts = part_boxes[i] if part_boxes is not None else None
        caption = image_captions[i] if image_captions is not None else f"image {i}"
        columns = [(caption, blank, 0.0), *((name, m[i], alpha) for name, m in maps.items())]
        for name, scoremap, weight in columns:
            tile = heatmap_overlay(images[i], scoremap, lut, weight)
            if parts is not None:
                tile = draw_boxes(tile, parts, PART_COLOR)
            tile = draw_boxes(tile, gt_boxes[i], GT_COLOR)  # on top of a touching part box
            tiles.append(add_caption(enlarge(tile, factor), [name], NEUTRAL_COLOR))
    return make_grid(torch.stack(tiles), nrow=1 + len(maps), padding=2, pad_value=255)
