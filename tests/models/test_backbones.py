"""Backbone shapes, strides, layouts and the name registry."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tests.models.presets import build_preset
from wsol.models import BACKBONES, build_backbone

# name, input size, large_feature_map → (channels, feature side, stride)
EXPECTED = [
    ("tiny", 96, False, 96, 12, 8),
    ("tiny", 96, True, 96, 24, 4),
    ("resnet18", 224, False, 512, 14, 16),
    ("resnet18", 224, True, 512, 28, 8),
    ("resnet50", 224, False, 2048, 14, 16),
    ("resnet50", 224, True, 2048, 28, 8),
    ("vgg16", 224, False, 1024, 14, 16),
    ("vgg16", 224, True, 1024, 28, 8),
    ("vgg16_pool3x3", 224, False, 512, 14, 16),
    ("vgg16_pool3x3", 224, True, 512, 28, 8),
]


@pytest.mark.parametrize(("name", "size", "large", "channels", "side", "stride"), EXPECTED)
def test_feature_shape_and_stride(name, size, large, channels, side, stride):
    # Shapes only: the meta device runs the graph without computing anything.
    with torch.device("meta"):
        backbone = build_preset(name, large_feature_map=large)
        features = backbone(torch.empty(2, 3, size, size))
    assert tuple(features.shape) == (2, channels, side, side)
    assert backbone.out_channels == channels
    assert backbone.stride == stride == size // side


@pytest.mark.parametrize("name", ["resnet50", "vgg16", "vgg16_pool3x3"])
def test_real_forward_on_a_small_input(name):
    backbone = build_preset(name).eval()
    with torch.no_grad():
        features = backbone(torch.randn(1, 3, 64, 64))
    assert tuple(features.shape) == (1, backbone.out_channels, 4, 4)
    assert torch.isfinite(features).all() and (features >= 0).all()


def test_tiny_size_and_widths():
    backbone = build_preset("tiny")
    count = sum(p.numel() for p in backbone.parameters())
    # 3x3 convs 3→16→32→96 plus one 96→96 at the last resolution, with their BatchNorms.
    convs = 9 * (3 * 16 + 16 * 32 + 32 * 96 + 96 * 96)
    assert count == convs + 2 * (16 + 32 + 96 + 96)
    assert backbone.out_channels == 96
    # The stem downsamples with a stride-2 convolution, the later stages with max pooling.
    stem = backbone.stages[0][0]
    assert stem.stride == (2, 2) and not any(
        isinstance(m, nn.MaxPool2d) for m in backbone.stages[0]
    )
    narrow = build_preset("tiny", widths=(8, 16))
    features = narrow(torch.randn(2, 3, 32, 32))
    assert tuple(features.shape) == (2, 16, 8, 8) and narrow.stride == 4
    large = build_preset("tiny", widths=(8, 16), large_feature_map=True)
    assert tuple(large(torch.randn(2, 3, 32, 32)).shape) == (2, 16, 16, 16) and large.stride == 2


def test_resnet_first_block_of_layer4_runs_at_stride_one():
    with torch.device("meta"):
        backbone = build_preset("resnet50")
    block = backbone.layer4[0]
    assert block.conv2.stride == (1, 1) and block.downsample[0].stride == (1, 1)
    assert backbone.layer3[0].conv2.stride == (2, 2)


def _pools(backbone) -> list[tuple[int, int, int]]:
    return [
        (m.kernel_size, m.stride, m.padding)
        for m in backbone.features
        if isinstance(m, nn.MaxPool2d)
    ]


def test_vgg_pool_layouts():
    with torch.device("meta"):
        cam, cam_large = build_preset("vgg16"), build_preset("vgg16", large_feature_map=True)
        acol = build_preset("vgg16_pool3x3")
        official = build_preset("vgg16_pool3x3", large_feature_map=True)
        plain = build_preset("vgg16_pool3x3", smoothing=False)
    assert _pools(cam) == [(2, 2, 0)] * 4 and _pools(cam_large) == [(2, 2, 0)] * 3
    assert isinstance(cam.conv6, nn.Conv2d) and cam.conv6.out_channels == 1024
    assert _pools(acol) == [(3, 2, 1)] * 4 + [(3, 1, 1)]
    assert _pools(official) == [(3, 2, 1)] * 3 + [(3, 1, 1)] * 2
    assert isinstance(acol.smooth, nn.AvgPool2d) and acol.smooth.stride == 1
    assert plain.smooth is None and plain.out_channels == 512


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="'vgg19'") as error:
        build_backbone("vgg19")
    for name in BACKBONES:
        assert name in str(error.value)


def test_a_retired_name_says_what_replaces_it():
    with pytest.raises(ValueError, match="'vgg16_acol' is retired: use name=vgg16 with pools=3x3"):
        build_backbone("vgg16_acol")


def test_bad_option_names_the_backbone():
    with pytest.raises(ValueError, match=r"'tiny' takes no option \['depth'\].*widths"):
        build_backbone("tiny", depth=3)
    with pytest.raises(ValueError, match="inception_v3' takes no option .'pools'"):
        build_backbone("inception_v3", pools="3x3")


def test_rules_are_printable():
    with torch.device("meta"):
        text = build_preset("vgg16").describe_lr_rules()
    assert "conv6." in text and "features." in text
