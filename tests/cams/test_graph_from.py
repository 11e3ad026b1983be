"""The Grad-CAM family records the autograd graph only from the target layer on."""

from __future__ import annotations

import torch
from torch import nn

from wsol.cams import GradCAM, XGradCAM
from wsol.cams.gradient import graph_from


def net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(4, 6, 3, padding=1),
        nn.ReLU(),  # not in place: the reference below keeps the layer's own output
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(6, 5),
    )


def test_layers_before_the_target_record_no_graph_and_the_mode_is_restored():
    model, seen = net(), {}
    model[0].register_forward_hook(lambda m, i, o: seen.__setitem__("before", o.requires_grad))
    model[3].register_forward_hook(lambda m, i, o: seen.__setitem__("after", o.requires_grad))
    with torch.no_grad():  # the extractor enables gradients locally, then restores this
        GradCAM(model, target_layer="2")(torch.randn(2, 3, 8, 8), [1, 3])
        assert not torch.is_grad_enabled()
    assert seen == {"before": False, "after": True}
    with graph_from(model[2]):
        model(torch.randn(1, 3, 8, 8))
    assert torch.is_grad_enabled()


def test_maps_equal_those_of_the_whole_graph():
    """Same gradients as a forward pass that records everything (and a backward to the layer)."""
    model, images, ids = net(), torch.randn(3, 3, 8, 8), torch.tensor([0, 2, 4])
    outputs = {}
    handle = model[2].register_forward_hook(lambda m, i, o: outputs.__setitem__("a", o))
    scores = model(images.requires_grad_(True)).gather(1, ids[:, None]).sum()
    handle.remove()
    grads = torch.autograd.grad(scores, outputs["a"])[0]
    activations = outputs["a"].detach()
    expected = XGradCAM.combine(activations, grads)
    assert torch.allclose(XGradCAM(model, target_layer="2").explain(images, ids), expected)
