"""WSOLLitModule: the memory layout of the network and its inputs."""

from __future__ import annotations

import functools

import torch

from wsol.lit_module import WSOLLitModule
from wsol.methods import CAMMethod
from wsol.models import build_backbone


def _module(channels_last: bool) -> WSOLLitModule:
    torch.manual_seed(0)
    method = CAMMethod(build_backbone("tiny", widths=(8, 16)), num_classes=3)
    optimizer = functools.partial(torch.optim.SGD, lr=0.1)
    return WSOLLitModule(method, optimizer, channels_last=channels_last)


def test_channels_last_changes_the_layout_not_the_outputs():
    nhwc, nchw = _module(True), _module(False)
    conv = nhwc.method.backbone.stages[0][0].weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    images = torch.randn(2, 3, 32, 32)
    nhwc_images = nhwc.network_input(images)
    assert nhwc_images.is_contiguous(memory_format=torch.channels_last)
    assert nchw.network_input(images).is_contiguous()
    with torch.no_grad():
        got, expected = nhwc.method(nhwc_images), nchw.method(images)
    torch.testing.assert_close(got.logits, expected.logits, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(got.class_maps, expected.class_maps, rtol=1e-4, atol=1e-5)
