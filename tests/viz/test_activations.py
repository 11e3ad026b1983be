"""Activation maps: captured outputs, hooks removed (also on errors), channel scaling, grids."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tests.helpers.modules import ConvTwice
from wsol.methods.cam import CAMMethod
from wsol.models.tiny import tiny
from wsol.viz.activations import activation_grid, channel_maps, layer_activations, top_channels


def _hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._backward_hooks) for m in model.modules())


def _model() -> CAMMethod:
    torch.manual_seed(0)
    return CAMMethod(tiny(), num_classes=4).train()


def test_outputs_of_named_layers_and_hooks_removed():
    model = _model()
    images = torch.randn(2, 3, 32, 32)
    acts = layer_activations(model, images, ["backbone.stages.1", "backbone"])
    assert acts["backbone.stages.1"].shape == (2, 32, 8, 8)
    assert acts["backbone"].shape == (2, 96, 4, 4)
    assert _hook_count(model) == 0
    assert model.training  # eval mode only during the pass
    model.eval()
    # The layer's output as the module returned it: the whole backbone's features.
    assert torch.allclose(acts["backbone"], model.backbone(images))


def test_hooks_removed_after_an_error():
    model = _model()
    with pytest.raises(KeyError, match="no module"):
        layer_activations(model, torch.randn(1, 3, 32, 32), ["backbone.nope"])
    with pytest.raises(RuntimeError):  # the forward pass fails: 4 input channels
        layer_activations(model, torch.randn(1, 4, 32, 32), ["backbone.stages.0"])
    assert _hook_count(model) == 0

    twice = ConvTwice()
    with pytest.raises(RuntimeError, match="ran 2 times"):
        layer_activations(twice, torch.randn(1, 3, 8, 8), "conv")
    assert _hook_count(twice) == 0


def test_channel_maps_are_scaled_per_channel():
    acts = torch.zeros(3, 4, 5)
    acts[0, 1, 2] = 7.0
    acts[1] = torch.arange(20.0).view(4, 5) - 5
    maps = channel_maps(acts, [1, 0, 2])
    assert maps.shape == (3, 4, 5)
    assert maps[0].min() == 0 and maps[0].max() == 1 and maps[0, 3, 4] == 1
    assert maps[1, 1, 2] == 1 and maps[1].sum() == 1
    assert torch.all(maps[2] == 0)  # a dead channel
    assert top_channels(acts, 2).tolist() == [1, 0]
    with pytest.raises(IndexError):
        channel_maps(acts, [3])


def test_grid_with_and_without_the_image():
    acts = torch.rand(6, 4, 4)
    plain = activation_grid(acts, [0, 1, 2, 3], size=16, nrow=2)
    assert plain.dtype == torch.uint8 and plain.shape[0] == 3
    assert plain.shape[-1] == 2 * (16 + 2) + 2
    image = torch.full((3, 24, 24), 100, dtype=torch.uint8)
    over = activation_grid(acts, [5, 0], image=image)
    assert over.shape[-1] == 2 * (24 + 2) + 2
