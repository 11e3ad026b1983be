"""Receptive fields: hand-derived windows, the gradient support of a unit, branches, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tests.helpers.modules import ConvTwice
from wsol.methods.acol import ACoLMethod
from wsol.methods.cam import CAMMethod
from wsol.models.tiny import tiny
from wsol.viz.receptive_field import Window, receptive_field


def _test_net(pool: type[nn.Module] = nn.MaxPool2d) -> nn.Sequential:
    """conv 3x3 s1 p1 → pool 2 → conv 3x3 s2 p0 dilation 2 → conv 5x1 / 1x3 p(2, 1)."""
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.ReLU(),
        pool(2),
        nn.Conv2d(4, 4, 3, stride=2, dilation=2),
        nn.BatchNorm2d(4),
        nn.Conv2d(4, 2, (5, 3), padding=(2, 1)),
    )


def test_windows_derived_by_hand():
    net = _test_net()
    # conv1: jump 1, [-1, 1]; pool: jump 2, [-1, 2]; dilated conv: jump 4, [-1, 2 + 4*2 = 10];
    # last conv: y: jump 4, [-1 - 2*4, 10 + 2*4] = [-9, 18]; x: [-1 - 4, 10 + 4] = [-5, 14].
    assert receptive_field(net, "0") == Window((1, 1), (-1, -1), (1, 1))
    assert receptive_field(net, "2") == Window((2, 2), (-1, -1), (2, 2))
    assert receptive_field(net, "3") == Window((4, 4), (-1, -1), (10, 10))
    last = receptive_field(net, "5")
    assert last == Window((4, 4), (-9, -5), (18, 14))
    assert last.size == (28, 20)
    assert last.box(2, 3) == (-5 + 12, -9 + 8, 14 + 12, 18 + 8)


@pytest.mark.parametrize("unit", [(0, 0), (3, 4), (8, 7)])
def test_window_is_the_bounding_box_of_the_units_input_gradient(unit):
    """An independent oracle: with positive weights and average pooling, a unit's gradient is
    positive on exactly the input pixels it sees (its window, clipped to the image)."""
    net = _test_net(pool=nn.AvgPool2d).eval()
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.Conv2d):
                module.weight.uniform_(0.5, 1.0)
    # 42 x 38: no stride drops a border row or column, so every layer's output covers the input.
    images = torch.ones(1, 3, 42, 38, requires_grad=True)
    out = net(images)
    y, x = unit
    out[0, 0, y, x].backward()
    support = images.grad[0].abs().sum(0) > 0
    rows = support.any(dim=1).nonzero().flatten()
    cols = support.any(dim=0).nonzero().flatten()
    x0, y0, x1, y1 = receptive_field(net, "5").box(y, x)
    assert (int(rows[0]), int(rows[-1])) == (max(y0, 0), min(y1, 41))
    assert (int(cols[0]), int(cols[-1])) == (max(x0, 0), min(x1, 37))


class _Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.branch = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1))
        self.skip = nn.Conv2d(4, 4, 1)

    def forward(self, x):
        x = self.stem(x)
        return torch.relu(self.branch(x) + self.skip(x))


def test_branches_are_united_and_traced_through_custom_modules():
    net = _Residual()
    # stem: jump 2, [-1, 1]; branch: two 3x3 at jump 2 → [-5, 5]; skip 1x1 → [-1, 1]; union.
    assert receptive_field(net, "branch") == Window((2, 2), (-5, -5), (5, 5))
    assert receptive_field(net, "skip") == Window((2, 2), (-1, -1), (1, 1))
    assert receptive_field(net, "") == Window((2, 2), (-5, -5), (5, 5))


def test_wsol_backbones_inside_untraceable_methods():
    # The tiny backbone: stride-2 stem, conv + pool, conv + pool, conv: 37 px at stride 8.
    expected = Window((8, 8), (-15, -15), (21, 21))
    assert receptive_field(CAMMethod(tiny(), 4), "backbone.stages.3") == expected
    # ACoL's forward branches on its labels (not traceable): its backbone is traced instead.
    assert receptive_field(ACoLMethod(tiny(), 4), "backbone.stages.3") == expected
    assert receptive_field(ACoLMethod(tiny(), 4), "backbone") == expected


def test_errors_name_the_layer():
    model = CAMMethod(tiny(), 4)
    with pytest.raises(ValueError, match="einsum"):
        receptive_field(model, "head")

    with pytest.raises(ValueError, match="runs 2 times"):
        receptive_field(ConvTwice(), "conv")
