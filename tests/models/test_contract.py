"""The backbone contract: feature info (channels, stride), names, positions, one-pass insert/read.

Shapes run on the meta device (no computation), at 224 px as in the benchmark.
"""

from __future__ import annotations

import re

import pytest
import torch

from tests.models.presets import build_preset
from wsol.models import FeatureInfo, build_backbone, registered

NAMES = ["tiny", "resnet18", "resnet50", "vgg16", "vgg16_pool3x3", "inception_v3"]

# Canonical stage → (native alias, channels, side at 224) of each backbone (docs/methods.md,
# the benchmark's models; tiny: its widths 16-32-96).
STAGES_224 = {
    "tiny": [("stage1", 16, 112), ("stage2", 32, 56), ("stage3", 96, 28), ("final", 96, 28)],
    "resnet50": [
        ("stem", 64, 56),
        ("layer1", 256, 56),
        ("layer2", 512, 28),
        ("layer3", 1024, 14),
        ("layer4", 2048, 14),
    ],
    "vgg16": [
        ("block1", 64, 112),
        ("block2", 128, 56),
        ("block3", 256, 28),
        ("block4", 512, 14),
        ("block5", 512, 14),
        ("conv6", 1024, 14),
    ],
    "inception_v3": [("stem", 192, 28), ("mixed_5", 288, 28), ("mixed_6", 768, 14)],
}


def _meta(name: str, large: bool = False):
    with torch.device("meta"):
        backbone = build_preset(name, large_feature_map=large)
        names = [info.name for info in backbone.positions]
        outputs = backbone.forward_stages(torch.empty(2, 3, 224, 224), read=names)
    return backbone, outputs


@pytest.mark.parametrize("name", sorted(STAGES_224))
def test_stage_feature_info_at_224(name):
    backbone, outputs = _meta(name)
    info = backbone.feature_info
    assert all(isinstance(i, FeatureInfo) for i in info)
    expected = STAGES_224[name]
    assert [i.name for i in info] == [f"stage{k + 1}" for k in range(len(expected) - 1)] + ["final"]
    for stage, (native, channels, side) in zip(info, expected, strict=True):
        assert native in stage.aliases or native == stage.name
        assert (stage.channels, 224 // stage.stride) == (channels, side)
        assert tuple(outputs[stage.name].shape) == (2, channels, side, side)
    assert info[-1].channels == backbone.out_channels and info[-1].stride == backbone.stride


@pytest.mark.parametrize("large", [False, True])
@pytest.mark.parametrize("name", NAMES)
def test_every_point_declares_the_shape_it_has(name, large):
    backbone, outputs = _meta(name, large)
    for info in backbone.positions:
        side = 224 // info.stride
        assert tuple(outputs[info.name].shape) == (2, info.channels, side, side), info
    # A forward hook on the declared module sees the point's tensor.
    stage = backbone.resolve("last-1")
    assert backbone.get_submodule(stage.module) is backbone.stage_module(stage.name)


@pytest.mark.parametrize("name", NAMES)
def test_canonical_and_relative_names_resolve_on_every_backbone(name):
    with torch.device("meta"):
        backbone = build_preset(name)
    stages = backbone.stage_names
    assert stages[-1] == "final" and stages[:-1] == tuple(
        f"stage{k}" for k in range(1, len(stages))
    )
    assert backbone.resolve("last").name == "final"
    assert backbone.resolve(f"stage{len(stages)}").name == "final"
    for back in range(len(stages)):
        assert backbone.resolve(f"last-{back}").name == stages[-1 - back]
    with pytest.raises(ValueError, match=f"last-{len(stages)}'.*last-{len(stages) - 1}"):
        backbone.resolve(f"last-{len(stages)}")


# In-stage positions the benchmark uses, with (channels, side at 224, stage they lie in).
POSITIONS_224 = {
    "vgg16": {
        "pool3": (256, 28, "stage3"),
        "conv4_3": (512, 28, "stage4"),
        "conv5_3": (512, 14, "stage5"),
    },
    "resnet50": {
        "layer3.0": (1024, 14, "stage4"),
        "layer4.0": (2048, 14, "final"),
        "layer4.2": (2048, 14, "final"),
    },
    "inception_v3": {
        "mixed_5d": (288, 28, "stage2"),
        "pool_5": (288, 14, "final"),
        "mixed_6e": (768, 14, "final"),
    },
}


@pytest.mark.parametrize("name", sorted(POSITIONS_224))
def test_benchmark_positions_are_named(name):
    with torch.device("meta"):
        backbone = build_preset(name)
    for position, (channels, side, stage) in POSITIONS_224[name].items():
        info = backbone.resolve(position)
        assert (info.channels, 224 // info.stride, info.stage) == (channels, side, stage)


def test_insert_at_a_position_and_read_in_one_pass():
    torch.manual_seed(0)
    backbone = build_preset("vgg16").eval()
    x = torch.randn(1, 3, 64, 64)
    seen = []
    handle = backbone.stage_module("conv4_3").register_forward_hook(lambda m, i, o: seen.append(o))
    with torch.no_grad():
        out = backbone.forward_stages(
            x, after={"conv4_3": torch.zeros_like}, read=["conv4_3", "pool3"]
        )
        handle.remove()
        plain = backbone.forward_stages(x, read=["pool3"])
    assert len(seen) == 1  # one pass
    assert out["conv4_3"].abs().max() == 0 and out["stage4"].abs().max() == 0  # pool4 of zeros
    torch.testing.assert_close(out["pool3"], plain["pool3"], rtol=0, atol=0)
    torch.testing.assert_close(out["pool3"], out["stage3"], rtol=0, atol=0)
    with pytest.raises(ValueError, match="two layers inserted at point 'stage3'"):
        backbone.forward_stages(x, after={"pool3": torch.relu, "block3": torch.relu})


def test_options_reach_only_builders_that_take_them():
    with pytest.raises(
        ValueError, match=r"'resnet50' takes no option \['widths'\].*large_feature_map"
    ):
        build_preset("resnet50", widths=(8,))
    assert build_preset("tiny", widths=(4, 8)).out_channels == 8


def test_registry_holds_options_and_normalization():
    from wsol.models import backbone_normalization, register_backbone

    entries = registered()
    assert set(entries) >= {"tiny", "resnet18", "resnet50", "vgg16", "inception_v3", "vit_b_16"}
    assert not any("acol" in name for name in entries)  # no backbone named after a method
    assert "pools" in entries["vgg16"].options and "widths" in entries["tiny"].options
    assert backbone_normalization("mean", "vgg16") == [0.485, 0.456, 0.406]
    assert backbone_normalization("std", None) == [0.229, 0.224, 0.225]
    with pytest.raises(ValueError, match="registered twice"):
        register_backbone("vgg16")(lambda: None)


def test_data_normalization_follows_the_backbone_declaration():
    """The data configs' resolver gives the statistics the backbone was registered with."""
    from omegaconf import OmegaConf

    from wsol.configuration.resolvers import register_resolvers
    from wsol.models import register_backbone
    from wsol.models.registry import _REGISTRY

    register_resolvers()
    register_backbone("half_norm_test", mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))(
        lambda: build_preset("tiny")
    )
    try:
        cfg = OmegaConf.create(
            {
                "backbone": {"name": "half_norm_test"},
                "data": {
                    "mean": "${wsol.backbone_norm:mean,${oc.select:backbone.name,null}}",
                    "std": "${wsol.backbone_norm:std,${oc.select:backbone.name,null}}",
                },
            }
        )
        assert list(cfg.data.mean) == [0.5] * 3 and list(cfg.data.std) == [0.25] * 3
        del cfg["backbone"]
        assert list(cfg.data.mean) == [0.485, 0.456, 0.406]  # no backbone: ImageNet's
    finally:
        _REGISTRY.pop("half_norm_test")


@pytest.mark.parametrize(
    ("name", "size", "expected"),
    [
        ("tiny", 8, "data.eval_size=8: TinyBackbone turns it into a 1x1 feature map"),
        ("vgg16", 8, "data.eval_size=8: too small an input for VGGBackbone"),
        ("resnet50", 16, "give at least 32"),
    ],
)
def test_an_input_too_small_for_the_backbone_is_refused_naming_the_key(name, size, expected):
    backbone = build_backbone(name).train()
    with pytest.raises(ValueError, match=re.escape(expected)):
        backbone.check_input_size(size, "data.eval_size")
    assert backbone.training  # the check restores the mode
    backbone.check_input_size(2 * backbone.stride, "data.eval_size")  # 2x2 cells: accepted
