"""Maximally activating patches: ranking over batches, the receptive-field crop of a known unit."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from wsol.methods.acol import ACoLMethod
from wsol.models.tiny import tiny
from wsol.viz.patches import crop_window, max_activating_patches, patch_grid
from wsol.viz.receptive_field import Window

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
# (row, column, brightness) of the one bright pixel of each image, away from the border (the same
# number of units sees each); the brightest is image 3.
SPOTS = [(5, 6, 1.0), (12, 17, 2.0), (8, 10, 3.0), (16, 5, 5.0), (18, 18, 4.0)]


def _brightness_net() -> nn.Sequential:
    """Channel 0 sums brightness (so it peaks over the bright pixel), channel 1 is its negative.

    Receptive field of layer "3": conv 3x3 p1 → [-1, 1]; max pool 2 → stride 2, [-1, 2];
    conv 3x3 p1 at stride 2 → [-3, 4]: 8x8 windows, unit (y, x) at (2y - 3, 2x - 3).
    """
    net = nn.Sequential(
        nn.Conv2d(3, 2, 3, padding=1, bias=False),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(2, 2, 3, padding=1, bias=False),
    )
    with torch.no_grad():
        net[0].weight.copy_(torch.stack([torch.ones(3, 3, 3), -torch.ones(3, 3, 3)]))
        net[3].weight.zero_()
        net[3].weight[0, 0] = 1.0
        net[3].weight[1, 1] = 1.0
    return net.train()


def _batches(batch_size: int = 2) -> list[dict]:
    images = torch.zeros(len(SPOTS), 3, 24, 24)
    for index, (y, x, value) in enumerate(SPOTS):
        images[index, :, y, x] = value
    labels = torch.arange(len(SPOTS)) % 2
    return [
        {"images": images[i : i + batch_size], "labels": labels[i : i + batch_size]}
        for i in range(0, len(SPOTS), batch_size)
    ]


def test_top_images_and_the_crop_of_their_unit():
    net = _brightness_net()
    batches = _batches()
    result = max_activating_patches(net, batches, "3", channels=[0], k=3)
    assert result.window == Window((2, 2), (-3, -3), (4, 4))
    assert result.image_indices[0].tolist() == [3, 4, 2]  # by brightness, across batches
    images = torch.cat([b["images"] for b in batches])
    with torch.no_grad():
        peaks = net.eval()(images)[:, 0].flatten(1).amax(dim=1)
    net.train()
    assert result.values[0].tolist() == pytest.approx(
        peaks.sort(descending=True).values[:3].tolist()
    )
    assert result.labels[0].tolist() == [1, 0, 0]
    assert result.patches.shape == (1, 3, 3, 8, 8)
    for slot, index in enumerate(result.image_indices[0].tolist()):
        y, x = result.units[0, slot].tolist()
        x0, y0, x1, y1 = result.boxes[0, slot].tolist()
        assert (x0, y0, x1, y1) == (2 * x - 3, 2 * y - 3, 2 * x + 4, 2 * y + 4)
        spot_y, spot_x, value = SPOTS[index]
        assert x0 <= spot_x <= x1 and y0 <= spot_y <= y1  # the unit sees its image's spot
        patch = result.patches[0, slot]
        assert patch[0, spot_y - y0, spot_x - x0] == value
        assert torch.equal(patch, crop_window(images[index], (x0, y0, x1, y1)))
        # The activation is the network's output at that unit.
        with torch.no_grad():
            expected = net.eval()(images[index : index + 1])[0, 0, y, x]
        net.train()
        assert result.values[0, slot] == pytest.approx(float(expected))
    assert net.training  # mode restored
    assert all(not m._forward_hooks for m in net.modules())


def test_crop_window_pads_with_zeros_outside_the_image():
    image = torch.arange(2 * 4 * 5, dtype=torch.float32).view(2, 4, 5) + 1
    crop = crop_window(image, (-2, -1, 1, 1))
    assert crop.shape == (2, 3, 4)
    assert torch.all(crop[:, 0] == 0) and torch.all(crop[:, :, :2] == 0)
    assert torch.equal(crop[:, 1:, 2:], image[:, :2, :2])
    assert torch.all(crop_window(image, (10, 10, 12, 11)) == 0)


def test_fewer_images_than_k_and_all_channels():
    result = max_activating_patches(_brightness_net(), _batches(4), "3", k=7, max_batches=1)
    assert result.channels.tolist() == [0, 1]
    assert result.values.shape == (2, 7)
    assert (result.image_indices >= 0).sum(dim=1).tolist() == [4, 4]
    assert torch.all(result.image_indices[:, 4:] == -1)
    grid = patch_grid(result, MEAN, STD, scale=2)
    assert grid.dtype == torch.uint8
    assert grid.shape[-1] == 7 * (16 + 2) + 2  # one column per entry
    assert grid[:, -5, -5].tolist() == [255, 255, 255]  # an empty entry is white


def test_backbone_layer_of_a_method_whose_forward_cannot_be_traced():
    torch.manual_seed(0)
    model = ACoLMethod(tiny(), num_classes=3)
    batches = [(torch.randn(3, 3, 48, 48), torch.tensor([0, 1, 2]))]
    result = max_activating_patches(model, batches, "backbone.stages.2", channels=[0, 5], k=2)
    assert result.window.size == (21, 21)
    assert result.patches.shape == (2, 2, 3, 21, 21)
    assert torch.all(result.values[:, 0] >= result.values[:, 1])
    with pytest.raises(ValueError, match="k must be"):
        max_activating_patches(model, batches, "backbone.stages.2", k=0)
