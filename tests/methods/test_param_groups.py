"""Learning-rate groups: complete, disjoint, and the multiplier on the right parameters."""

from __future__ import annotations

import pytest
import torch

from tests.models.presets import build_preset
from wsol.methods import ACoLMethod, CAMMethod

LR, MULT = 0.01, 10.0

# (method, backbone, lr_rule) → prefixes of the parameters at lr * MULT
CASES = [
    (CAMMethod, "tiny", "clean", ("head.",)),
    (CAMMethod, "tiny", "we", ("head.",)),
    (CAMMethod, "vgg16", "clean", ("backbone.conv6.", "head.")),
    (CAMMethod, "vgg16", "we", ("backbone.conv6.", "head.")),
    (CAMMethod, "resnet50", "clean", ("head.",)),
    (CAMMethod, "resnet50", "we", ("backbone.layer4.", "head.")),
    (ACoLMethod, "vgg16_pool3x3", "clean", ("head_a.", "head_b.")),
    (ACoLMethod, "vgg16_pool3x3", "we", ("head_a.", "head_b.")),
    (ACoLMethod, "resnet50", "clean", ("head_a.", "head_b.")),
    (ACoLMethod, "resnet50", "we", ("backbone.layer4.",)),  # WE's quirk: heads at 1x
]


@pytest.mark.parametrize(("method_cls", "backbone", "rule", "new_prefixes"), CASES)
def test_groups_partition_the_parameters(method_cls, backbone, rule, new_prefixes):
    with torch.device("meta"):  # names and sizes only
        method = method_cls(build_preset(backbone), num_classes=7, lr_rule=rule)
    groups = method.param_groups(LR, MULT)
    ids = [id(p) for group in groups for p in group["params"]]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in method.parameters()}
    lr_of = {id(p): group["lr"] for group in groups for p in group["params"]}
    for name, param in method.named_parameters():
        expected = LR * MULT if name.startswith(new_prefixes) else LR
        assert lr_of[id(param)] == pytest.approx(expected), name
    text = method.describe_param_groups(LR, MULT)
    assert f"lr_rule='{rule}'" in text and "lr=0.1" in text and "lr=0.01" in text
    total = sum(p.numel() for p in method.parameters())
    counts = [
        int(s.split("=")[1].replace(",", "")) for s in text.split() if s.startswith("parameters=")
    ]
    assert sum(counts) == total


def test_frozen_parameters_are_left_out():
    method = CAMMethod(build_preset("tiny"), num_classes=3)
    method.backbone.stages[0].requires_grad_(False)
    params = [p for group in method.param_groups(LR, MULT) for p in group["params"]]
    assert len(params) == sum(p.requires_grad for p in method.parameters())


def test_unknown_rule_is_named():
    with pytest.raises(ValueError, match="'fancy'"):
        CAMMethod(build_preset("tiny"), num_classes=3, lr_rule="fancy")
