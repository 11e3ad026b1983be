"""Backbone stages: canonical names, outputs equal to the plain forward, layers after stages."""

from __future__ import annotations

import pytest
import torch

from tests.models.presets import build_preset

# Canonical stage names, then each stage's native name (an alias).
STAGES = {
    "tiny": ("stage1", "stage2", "stage3", "final"),
    "resnet18": ("stage1", "stage2", "stage3", "stage4", "final"),
    "vgg16": ("stage1", "stage2", "stage3", "stage4", "stage5", "final"),
    "vgg16_pool3x3": ("stage1", "stage2", "stage3", "stage4", "stage5", "final"),
}
NATIVE = {
    "tiny": ("stage1", "stage2", "stage3", "final"),
    "resnet18": ("stem", "layer1", "layer2", "layer3", "layer4"),
    "vgg16": ("block1", "block2", "block3", "block4", "block5", "conv6"),
    "vgg16_pool3x3": ("block1", "block2", "block3", "block4", "block5", "smooth"),
}


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_names_and_last_stage_is_the_features(name):
    torch.manual_seed(0)
    backbone = build_preset(name).eval()
    assert backbone.stage_names == STAGES[name]
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        outputs = backbone.forward_stages(x)
        features = backbone(x)
    assert tuple(outputs) == STAGES[name]
    torch.testing.assert_close(outputs[STAGES[name][-1]], features, rtol=0, atol=0)
    for canonical, native in zip(STAGES[name], NATIVE[name], strict=True):
        assert backbone.resolve(native) is not None
        assert backbone.resolve(native).name == canonical


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_module_output_is_the_stage_output(name):
    torch.manual_seed(0)
    backbone = build_preset(name).eval()
    stage = STAGES[name][2]
    seen = []
    handle = backbone.stage_module(stage).register_forward_hook(lambda m, i, o: seen.append(o))
    with torch.no_grad():
        outputs = backbone.forward_stages(torch.randn(1, 3, 64, 64))
    handle.remove()
    assert len(seen) == 1
    torch.testing.assert_close(seen[0], outputs[stage], rtol=0, atol=0)


def test_layer_after_a_stage_feeds_the_next_stage():
    torch.manual_seed(0)
    backbone = build_preset("tiny", widths=(4, 6, 8)).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        plain = backbone.forward_stages(x)
        zeroed = backbone.forward_stages(x, after={"stage2": torch.zeros_like})
    torch.testing.assert_close(plain["stage1"], zeroed["stage1"])
    assert zeroed["stage2"].abs().max() == 0
    # BatchNorm's shift in eval makes stage3's output on a zero input a constant per channel.
    assert not torch.equal(plain["stage3"], zeroed["stage3"])
    assert torch.equal(zeroed["stage3"], backbone.stages[2](torch.zeros_like(plain["stage2"])))


def test_unknown_stage_names_the_known_ones():
    backbone = build_preset("tiny")
    with pytest.raises(ValueError, match="no point 'block9'.*stage1; stage2"):
        backbone.forward_stages(torch.randn(1, 3, 32, 32), after={"block9": torch.relu})
    with pytest.raises(ValueError, match="'layer4'"):
        backbone.stage_module("layer4")


@pytest.mark.parametrize("name", ["tiny", "resnet18", "vgg16"])
def test_state_dict_keys_are_unchanged(name):
    """Stages are views on the existing modules: no new or renamed parameters."""
    keys = set(build_preset(name).state_dict())
    prefixes = {
        "tiny": ("stages.",),
        "resnet18": ("conv1.", "bn1.", "layer"),
        "vgg16": ("features.", "conv6."),
    }[name]
    assert keys and all(key.startswith(prefixes) for key in keys)


def test_a_backbone_without_named_stages_still_prints_and_says_so():
    from torch import nn

    from wsol.models.base import Backbone

    class Plain(Backbone):
        out_channels, stride = 3, 1

        def forward(self, x):
            return x

    backbone = Plain()
    assert "stages=unnamed" in repr(backbone)
    with pytest.raises(NotImplementedError, match="Plain does not list its segments"):
        backbone.forward_stages(torch.zeros(1, 3, 2, 2))
    assert isinstance(backbone, nn.Module)
