"""The recommended YAML nodes instantiate the methods with their backbones through Hydra."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from wsol.methods import ACoLMethod, CAMMethod

YAML = """
backbone:
  _target_: wsol.models.build_backbone
  name: tiny
  pretrained: false
  weights_path: null
  large_feature_map: false
  widths: [8, 16, 32]
cam:
  _target_: wsol.methods.CAMMethod
  backbone: ${backbone}
  num_classes: 3
  lr_rule: clean
acol:
  _target_: wsol.methods.ACoLMethod
  backbone: ${backbone}
  num_classes: 3
  erase_threshold: 0.7
  head:
    _target_: wsol.models.heads.ClassMapHead
    _partial_: true
    width: 16
  erase_with: label
  lr_rule: clean
"""


@pytest.mark.parametrize(("key", "cls"), [("cam", CAMMethod), ("acol", ACoLMethod)])
def test_yaml_instantiates_method_with_backbone(key, cls):
    cfg = OmegaConf.create(YAML)
    method = instantiate(cfg[key])
    assert isinstance(method, cls) and method.backbone.out_channels == 32
    output = method(torch.randn(1, 3, 32, 32), torch.tensor([2]))
    assert output.class_maps.shape == (1, 3, 4, 4)
