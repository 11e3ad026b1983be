"""Overlay drawing: exact pixels of heatmaps, boxes and captions; the panel's layout."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

from wsol.viz.colormap import apply_colormap, colormap_lut
from wsol.viz.overlay import (
    GT_COLOR,
    PRED_COLOR,
    add_caption,
    annotate,
    blend,
    denormalize,
    draw_boxes,
    line_width,
)
from wsol.viz.panel import MIN_TILE_SIDE, PanelSample, enlarge, render_panel


@pytest.mark.parametrize("name", ["inferno", "viridis"])
def test_lut_samples_the_matplotlib_colormap(name):
    lut = colormap_lut(name)
    assert lut.shape == (256, 3) and lut.dtype == torch.uint8
    expected = np.round(matplotlib.colormaps[name]([0.0, 0.5 * 255 / 255, 1.0])[:, :3] * 255)
    assert lut[0].tolist() == expected[0].tolist()
    assert lut[255].tolist() == expected[2].tolist()


def test_unknown_colormap_names_the_value():
    with pytest.raises(ValueError, match="no_such_map"):
        colormap_lut("no_such_map")


def test_apply_colormap_quantizes_like_the_protocol():
    lut = colormap_lut("viridis")
    scores = torch.tensor([[0.0, 1.0, 0.5, 2.0 / 255 - 1e-9]], dtype=torch.float64)
    heat = apply_colormap(scores, lut)
    assert heat.shape == (3, 1, 4)
    for column, index in enumerate([0, 255, 127, 1]):
        assert heat[:, 0, column].tolist() == lut[index].tolist()


def test_overlay_pixels_box_colours_and_hot_pixel():
    """Box colour on the box border, the LUT's hot colour blended at a hot pixel."""
    lut = colormap_lut("inferno")
    image = torch.full((3, 40, 50), 100, dtype=torch.uint8)
    scoremap = torch.zeros(40, 50, dtype=torch.float64)
    scoremap[30, 40] = 1.0  # one hot pixel, away from the boxes
    gt, pred = torch.tensor([[2, 3, 20, 25]]), torch.tensor([[25, 5, 35, 15]])
    out = annotate(image, scoremap, lut, gt_boxes=gt, pred_boxes=pred, alpha=0.5, width=1)
    assert out.shape == image.shape and out.dtype == torch.uint8
    # Inclusive boxes: every pixel of the border rows/columns has the box's colour.
    for y in (3, 14, 25):
        assert tuple(out[:, y, 2].tolist()) == GT_COLOR
        assert tuple(out[:, y, 20].tolist()) == GT_COLOR
    for x in (2, 11, 20):
        assert tuple(out[:, 3, x].tolist()) == GT_COLOR
        assert tuple(out[:, 25, x].tolist()) == GT_COLOR
    assert tuple(out[:, 5, 25].tolist()) == PRED_COLOR
    assert tuple(out[:, 15, 35].tolist()) == PRED_COLOR
    # Inside a box, the heatmap blend (score 0 there).
    cold = ((100 + lut[0].float()) / 2).round().to(torch.uint8)
    assert out[:, 10, 10].tolist() == cold.tolist()
    hot = ((100 + lut[255].float()) / 2).round().to(torch.uint8)
    assert out[:, 30, 40].tolist() == hot.tolist()
    assert image.eq(100).all()  # the input is not changed


def test_draw_boxes_clips_and_accepts_no_box():
    image = torch.zeros(3, 10, 10, dtype=torch.uint8)
    assert torch.equal(draw_boxes(image, torch.zeros(0, 4), GT_COLOR), image)
    out = draw_boxes(image, [[5, 5, 30, 30]], PRED_COLOR)
    assert tuple(out[:, 9, 7].tolist()) == PRED_COLOR  # bottom edge clipped to row 9


def test_blend_and_denormalize():
    image = torch.full((3, 2, 2), 200, dtype=torch.uint8)
    heat = torch.zeros_like(image)
    assert blend(image, heat, 0.25).eq(150).all()
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.5)
    pixels = torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.uint8)
    normalized = (pixels / 255 - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(
        1, 3, 1, 1
    )
    assert torch.equal(denormalize(normalized, mean, std), pixels)


def test_caption_strip_sits_above_the_tile():
    tile = torch.zeros(3, 96, 120, dtype=torch.uint8)
    out = add_caption(tile, ["a very long class name that cannot fit in the width", "b"])
    assert out.shape[0] == 3 and out.shape[2] == 120 and out.shape[1] > 96
    assert torch.equal(out[:, -96:], tile)
    assert line_width((1000, 1500)) == 7 and line_width((96, 96)) == 1


def _sample(index: int, extra: bool, size: int = 96) -> PanelSample:
    scoremap = torch.rand(size, size, dtype=torch.float64)
    return PanelSample(
        index=index,
        image=torch.zeros(3, size, size, dtype=torch.uint8),
        scoremap=scoremap,
        gt_boxes=torch.tensor([[1, 2, 30, 40]]),
        label=1,
        prediction=index % 2,
        probability=0.5,
        extra_maps={"branch A": scoremap, "branch B": scoremap, "fused": scoremap} if extra else {},
        pred_boxes=torch.tensor([[10, 10, 20, 20]]),
    )


@pytest.mark.parametrize("extra", [False, True])
def test_panel_layout(extra):
    lut = colormap_lut("inferno")
    grid = render_panel([_sample(i, extra) for i in range(3)], lut, ["a", "b"], threshold=0.5)
    assert grid.dtype == torch.uint8 and grid.shape[0] == 3
    side = 96 * -(-MIN_TILE_SIDE // 96)  # small frames are enlarged by an integer factor
    columns = 4 if extra else 3  # CAM: up to 4 images per row; ACoL: one image's 4 tiles
    assert grid.shape[2] == columns * (side + 2) + 2
    rows = 3 if extra else 1
    assert (grid.shape[1] - 2) % rows == 0


def test_enlarge_repeats_pixels():
    image = torch.arange(12, dtype=torch.uint8).view(3, 2, 2)
    big = enlarge(image, 3)
    assert big.shape == (3, 6, 6) and torch.equal(big[:, ::3, ::3], image)
