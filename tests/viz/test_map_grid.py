"""The map comparison grid: layout, boxes on every tile, errors."""

from __future__ import annotations

import pytest
import torch

from wsol.viz.colormap import colormap_lut
from wsol.viz.map_grid import PART_COLOR, map_comparison_grid
from wsol.viz.overlay import GT_COLOR

N, H, W = 2, 16, 20


def _inputs():
    images = torch.full((N, 3, H, W), 128, dtype=torch.uint8)
    gt = [torch.tensor([[2, 3, 10, 12]]), torch.tensor([[0, 0, 19, 15], [4, 4, 6, 6]])]
    parts = [torch.tensor([[5, 6, 7, 8]]), torch.zeros(0, 4, dtype=torch.long)]
    maps = {"A": torch.rand(N, H, W), "B": torch.zeros(N, H, W)}
    return images, gt, parts, maps


def test_one_row_per_image_one_column_per_map_plus_the_image():
    images, gt, parts, maps = _inputs()
    grid = map_comparison_grid(images, gt, maps, colormap_lut(), part_boxes=parts, factor=2)
    assert grid.dtype == torch.uint8 and grid.shape[0] == 3
    tile_w = 2 * W
    assert grid.shape[2] == 3 * (tile_w + 2) + 2  # make_grid's 2-pixel padding
    strip = (grid.shape[1] - 2) // N - 2 - 2 * H  # caption strip height
    assert strip > 0
    # First tile of the first row: the GT box's left edge (x=2) and the part box (x=5),
    # both enlarged by 2, below the caption strip; the image itself is unchanged elsewhere.
    top = 2 + strip
    assert grid[:, top + 2 * 6, 2 + 2 * 2].tolist() == list(GT_COLOR)
    assert grid[:, top + 2 * 7, 2 + 2 * 5].tolist() == list(PART_COLOR)
    assert grid[:, top + 2 * 1, 2 + 2 * 15].tolist() == [128, 128, 128]


def test_bad_inputs_are_named():
    images, gt, parts, maps = _inputs()
    with pytest.raises(ValueError, match="one set of boxes per image"):
        map_comparison_grid(images, gt[:1], maps, colormap_lut())
    with pytest.raises(ValueError, match="'A'"):
        map_comparison_grid(images, gt, {"A": torch.rand(N, H, H)}, colormap_lut())
