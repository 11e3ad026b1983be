"""InceptionV3 in its WSOL form: feature shapes at 224 (CAM, ACoL, large map; ResNet50 and VGG16
alike, docs/methods.md table), torchvision weights from a local file with the dropped layers
reported, and bad files named."""

from __future__ import annotations

import logging

import pytest
import torch

from tests.helpers.wsoleval_fixture import torchvision_state_dict
from tests.models.presets import build_preset
from wsol.methods import ACoLMethod, CAMMethod
from wsol.models.heads import ClassMapHead


def class_map_head(dropout: float):
    return lambda c, k: ClassMapHead(c, k, width=1024, dropout=dropout)


def small_head(c: int, k: int) -> ClassMapHead:
    return ClassMapHead(c, k, width=64)


# backbone name, large map → (channels, side) at 224 px (docs/methods.md#backbones).
SHAPES = {
    ("inception_v3", False): (768, 14),
    ("inception_v3", True): (768, 28),
    ("resnet50", False): (2048, 14),
    ("resnet50", True): (2048, 28),
    ("vgg16", False): (1024, 14),
    ("vgg16", True): (1024, 28),
    ("vgg16_pool3x3", False): (512, 14),
    ("vgg16_pool3x3", True): (512, 28),
}


@pytest.mark.slow
@pytest.mark.parametrize(("name", "large"), list(SHAPES), ids=str)
def test_cam_and_acol_maps_have_the_table_shapes_at_224(name, large):
    channels, side = SHAPES[(name, large)]
    backbone = build_preset(name, large_feature_map=large)
    assert backbone.out_channels == channels and 224 // backbone.stride == side
    images, labels = torch.randn(1, 3, 224, 224), torch.tensor([1])
    if name == "vgg16_pool3x3":
        method = ACoLMethod(backbone, num_classes=5, head=small_head)
    else:
        head = class_map_head(0.5) if name == "inception_v3" else None
        method = CAMMethod(backbone, num_classes=5, head=head)
    with torch.no_grad():
        output = method.eval()(images, labels)
        assert output.class_maps.shape == (1, 5, side, side)
        assert output.logits.shape == (1, 5)
        if name == "inception_v3" and not large:
            acol = ACoLMethod(backbone, num_classes=5, head=small_head).eval()
            assert acol(images, labels).class_maps.shape == (1, 5, side, side)


def test_inception_stages_and_extra_pool():
    with torch.device("meta"):
        backbone = build_preset("inception_v3").eval()
        stages = backbone.forward_stages(
            torch.empty(1, 3, 224, 224), read=["stem", "mixed_5", "mixed_6"]
        )
    assert {k: tuple(v.shape[1:]) for k, v in stages.items()} == {
        "stage1": (192, 28, 28),
        "stage2": (288, 28, 28),
        "final": (768, 14, 14),
        "stem": (192, 28, 28),
        "mixed_5": (288, 28, 28),
        "mixed_6": (768, 14, 14),
    }
    # Mixed_6a at stride 1 and pad 1 (the benchmark's InceptionB(kernel 3, stride 1, padding 1)).
    assert backbone.Mixed_6a.branch3x3.conv.stride == (1, 1)
    assert backbone.Mixed_6a.branch3x3.conv.padding == (1, 1)
    assert backbone.Conv2d_1a_3x3.conv.padding == (1, 1)
    assert not hasattr(backbone, "Mixed_7a") and not hasattr(backbone, "fc")


def test_inception_loads_a_torchvision_file_and_reports_dropped_layers(tmp_path, caplog):
    state = torchvision_state_dict("inception_v3")
    state["Mixed_6e.branch_pool.conv.weight"].fill_(0.25)
    path = tmp_path / "inception_v3_google.pth"
    torch.save({f"module.{k}": v for k, v in state.items()}, path)  # a DataParallel save
    with caplog.at_level(logging.INFO, logger="wsol"):
        backbone = build_preset("inception_v3", weights_path=str(path))
    loaded = backbone.state_dict()
    assert torch.all(loaded["Mixed_6e.branch_pool.conv.weight"] == 0.25)
    kept = [k for k in state if not k.startswith(("Mixed_7", "AuxLogits.", "fc."))]
    assert sorted(kept) == sorted(loaded)
    for key in kept:
        assert torch.equal(loaded[key], state[key]), key
    assert "AuxLogits, Mixed_7a, Mixed_7b, Mixed_7c, fc" in caplog.text


def test_inception_file_with_wrong_keys_is_reported(tmp_path):
    state = torchvision_state_dict("inception_v3")
    del state["Mixed_5b.branch1x1.conv.weight"]
    state["Mixed_6b.extra.weight"] = torch.zeros(1)
    state["Conv2d_2a_3x3.conv.weight"] = torch.zeros(32, 32, 5, 5)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(ValueError) as error:
        build_preset("inception_v3", weights_path=str(path))
    message = str(error.value)
    assert str(path) in message
    assert "unexpected keys ['Mixed_6b.extra.weight']" in message
    assert "missing keys ['Mixed_5b.branch1x1.conv.weight']" in message
    assert "Conv2d_2a_3x3.conv.weight: file (32, 32, 5, 5) vs model (32, 32, 3, 3)" in message


def test_inception_we_rule_keeps_backbone_at_base_rate():
    backbone = build_preset("inception_v3")
    method = CAMMethod(backbone, num_classes=3, lr_rule="we", head=class_map_head(0.5))
    groups = {g["name"]: g for g in method.param_groups(lr=0.1, head_lr_mult=10.0)}
    head_ids = {id(p) for p in method.head.parameters()}
    assert {id(p) for p in groups["new"]["params"]} == head_ids
    assert len(groups["pretrained"]["params"]) == len(list(backbone.parameters()))
