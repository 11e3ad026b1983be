"""The benchmark's layer-name rule is an optional mapping: unnamed method modules are new."""

from __future__ import annotations

import pytest
from torch import nn

from wsol.methods import CAMMethod
from wsol.models import build_backbone
from wsol.models.param_rules import classify_params, describe_method_groups


class WithBranch(CAMMethod):
    """CAM plus a module that has no benchmark layer name."""

    def __init__(self, backbone, num_classes):
        super().__init__(backbone, num_classes)
        self.branch = nn.Conv2d(backbone.out_channels, 1, 1)


@pytest.mark.parametrize("rule", ["clean", "we"])
def test_a_module_without_a_we_name_is_new(rule):
    method = WithBranch(build_backbone("vgg16", conv6=False), num_classes=3)
    roles = {role.name: role.new for role in classify_params(method, rule, {"head": "fc"})}
    assert roles["branch.weight"] and roles["branch.bias"]
    assert roles["head.fc.weight"]  # "fc" is outside VGG's "features." under both rules
    assert not roles["backbone.features.0.weight"]
    text = describe_method_groups(method, rule, {"head": "fc"}, 0.01, 10.0)
    assert "branch" in text.splitlines()[-1]  # listed in the "new" group


def test_resnet_we_rule_keeps_its_quirk_for_named_heads():
    method = CAMMethod(build_backbone("resnet18"), num_classes=3)
    we = {role.name: role.new for role in classify_params(method, "we", {"head": "classifier_A"})}
    assert not we["head.fc.weight"]  # classifier_A.* is not layer4./fc. → 1x, as the benchmark
    assert we["backbone.layer4.0.conv1.weight"] and not we["backbone.layer3.0.conv1.weight"]
