"""First-layer filter grids: which layer, display scaling, grid layout, errors."""

from __future__ import annotations

import pytest
import torch
from matplotlib.figure import Figure
from torch import nn

from wsol.methods.cam import CAMMethod
from wsol.models.tiny import tiny
from wsol.viz.filters import filter_figure, filter_grid, first_conv, normalize_filters


def test_first_conv_is_the_stem_of_a_wsol_method():
    model = CAMMethod(tiny(), num_classes=4)
    name, conv = first_conv(model)
    assert name == "backbone.stages.0.0"
    assert conv.in_channels == 3
    with pytest.raises(ValueError, match="no Conv2d"):
        first_conv(nn.Linear(3, 2))


def test_per_filter_scaling_spans_zero_to_one_and_global_keeps_zero_grey():
    torch.manual_seed(0)
    weight = torch.randn(6, 3, 3, 3)
    weight[5] = 0.25  # a constant filter
    scaled = normalize_filters(weight, "filter").flatten(1)
    assert torch.allclose(scaled[:5].min(dim=1).values, torch.zeros(5))
    assert torch.allclose(scaled[:5].max(dim=1).values, torch.ones(5))
    assert torch.all(scaled[5] == 0.5)
    glob = normalize_filters(weight, "global")
    peak = weight.abs().max()
    assert glob.min() >= 0 and glob.max() <= 1
    assert torch.allclose(glob, 0.5 + weight / (2 * peak))
    with pytest.raises(ValueError, match="mode"):
        normalize_filters(weight, "bogus")


def test_grid_layout_and_pixels():
    weight = torch.zeros(4, 3, 3, 3)
    weight[0, 0] = 1.0  # a pure red filter
    weight[0, 1:] = -1.0
    grid = filter_grid(weight, mode="filter", scale=4, nrow=2)
    assert grid.dtype == torch.uint8
    assert grid.shape == (3, 2 * (12 + 2) + 2, 2 * (12 + 2) + 2)
    assert grid[:, 2 + 5, 2 + 5].tolist() == [255, 0, 0]
    assert grid[:, 0, 0].tolist() == [255, 255, 255]  # separator


def test_grey_input_filters_and_deeper_layers():
    grey = filter_grid(torch.randn(3, 1, 5, 5), scale=1)
    assert grey.shape[0] == 3
    assert torch.equal(grey[0], grey[1]) and torch.equal(grey[1], grey[2])
    with pytest.raises(ValueError, match="RGB or grey"):
        filter_grid(torch.randn(8, 16, 3, 3))


def test_figure_names_the_layer():
    fig = filter_figure(CAMMethod(tiny(), num_classes=4))
    assert isinstance(fig, Figure)
    assert "backbone.stages.0.0: 16 filters 3x3" in fig._suptitle.get_text()
