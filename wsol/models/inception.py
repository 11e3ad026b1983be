"""InceptionV3 in its WSOL form (224 input, 14x14x768 features), built from torchvision's blocks.

Changes from torchvision's ``Inception3`` (as in the wsolevaluation re-implementation):

- ``Conv2d_1a_3x3`` pads by 1; the two stem pools are MaxPool(3, s2, p1, ceil_mode).
- ``Mixed_6a`` runs at stride 1 (its strided convs and its pool: 3x3, s1, p1), and an extra
  MaxPool(3, s2, ceil_mode) follows ``Mixed_5d`` instead; ``large_feature_map`` skips that pool
  (28x28 at 224 px).
- ``Mixed_7*``, ``AuxLogits`` and ``fc`` are dropped: the features end at ``Mixed_6e``.

Parameter names equal torchvision's, so a torchvision state dict loads once the dropped layers'
keys are removed (:meth:`InceptionBackbone.adapt_state_dict`). Inputs use the ImageNet mean/std
normalization of the other backbones (torchvision's ``transform_input`` is not applied, as in
the benchmark).
"""

from __future__ import annotations

import logging

import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.inception import BasicConv2d, InceptionA, InceptionB, InceptionC

from wsol.models.base import Backbone
from wsol.models.features import Segment
from wsol.models.init import init_xavier
from wsol.models.param_rules import NewParamRule
from wsol.models.registry import register_backbone

log = logging.getLogger("wsol")

#: Key prefixes of a torchvision Inception3 state dict that the WSOL form does not have.
DROPPED_PREFIXES = ("Mixed_7", "AuxLogits.", "fc.")
#: WE's rule: parameters whose names contain these are pretrained (1x); all others are new.
WE_PRETRAINED_PREFIXES = ("Mixed", "Conv2d_1", "Conv2d_2", "Conv2d_3", "Conv2d_4")


class InceptionBStride1(InceptionB):
    """torchvision's ``InceptionB`` (Mixed_6a) at stride 1: the 3x3 convs and the pool keep size."""

    def __init__(self, in_channels: int) -> None:
        super().__init__(in_channels)
        for block in (self.branch3x3, self.branch3x3dbl_3):
            block.conv.stride, block.conv.padding = (1, 1), (1, 1)

    def _forward(self, x: Tensor) -> list[Tensor]:
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        return [self.branch3x3(x), branch3x3dbl, pooled]


def _stem_pool() -> nn.MaxPool2d:
    return nn.MaxPool2d(kernel_size=3, stride=2, padding=1, ceil_mode=True)


class InceptionBackbone(Backbone):
    """InceptionV3 up to ``Mixed_6e``: [B, 768, 14, 14] at 224 px (28x28 with large_feature_map).

    Learning-rate rules: clean, nothing in the backbone is new; WE, every name outside ``Mixed*``
    and ``Conv2d_1..4`` is new (the heads), which here gives the same groups.

    Args:
        large_feature_map: skip the extra pool after ``Mixed_5d`` (stride 8 instead of 16).
    """

    torchvision_weights = "Inception_V3_Weights.IMAGENET1K_V1"

    def __init__(self, large_feature_map: bool = False) -> None:
        super().__init__()
        self.large_feature_map = bool(large_feature_map)
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2, padding=1)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.maxpool1 = _stem_pool()
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.maxpool2 = _stem_pool()
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.pool_5 = (
            nn.Identity() if large_feature_map else nn.MaxPool2d(3, stride=2, ceil_mode=True)
        )
        self.Mixed_6a = InceptionBStride1(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        init_xavier(self)
        self.out_channels = 768
        self.stride = 8 if large_feature_map else 16
        self.new_param_rule = NewParamRule()
        self.we_new_param_rule = NewParamRule(pretrained_prefixes=WE_PRETRAINED_PREFIXES)

    def adapt_state_dict(self, state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
        """Remove a DataParallel ``module.`` prefix and drop ``Mixed_7*``/``AuxLogits``/``fc``.

        The dropped layers and their key count are logged; every other key must then match this
        module (the caller reports missing, unexpected and mis-shaped keys).
        """
        if state_dict and all(key.startswith("module.") for key in state_dict):
            state_dict = {key[len("module.") :]: value for key, value in state_dict.items()}
        kept = {k: v for k, v in state_dict.items() if not k.startswith(DROPPED_PREFIXES)}
        dropped = sorted({k.split(".", 1)[0] for k in state_dict if k not in kept})
        if dropped:
            log.info(
                "InceptionV3 weights: dropped %d keys of layers the WSOL form has not: %s",
                len(state_dict) - len(kept),
                ", ".join(dropped),
            )
        return kept

    def segments(self) -> list[Segment]:
        """Stages ``stem`` (to 28x28x192 at 224 px), ``mixed_5`` (ends at Mixed_5d, 28x28x288,
        before the extra pool) and ``mixed_6`` (= final: the 768-channel features); positions
        ``mixed_5b`` ... ``mixed_6e`` after each Inception block and ``pool_5`` after the extra
        pool (14x14x288; the input of Mixed_6a)."""
        pooled = 8 if self.large_feature_map else 16
        stem = [
            self.Conv2d_1a_3x3,
            self.Conv2d_2a_3x3,
            self.Conv2d_2b_3x3,
            self.maxpool1,
            self.Conv2d_3b_1x1,
            self.Conv2d_4a_3x3,
            self.maxpool2,
        ]
        segments = [Segment(("stem",), stem, 192, 8, "maxpool2", stage_end=True)]
        for block, channels in (("5b", 256), ("5c", 288), ("5d", 288)):
            names = (f"mixed_{block}",) + (("mixed_5",) if block == "5d" else ())
            segments.append(
                Segment(
                    names,
                    [getattr(self, f"Mixed_{block}")],
                    channels,
                    8,
                    f"Mixed_{block}",
                    stage_end=block == "5d",
                )
            )
        segments.append(Segment(("pool_5",), [self.pool_5], 288, pooled, "pool_5"))
        for block in ("6a", "6b", "6c", "6d", "6e"):
            names = (f"mixed_{block}",) + (("mixed_6",) if block == "6e" else ())
            segments.append(
                Segment(
                    names,
                    [getattr(self, f"Mixed_{block}")],
                    768,
                    pooled,
                    f"Mixed_{block}",
                    stage_end=block == "6e",
                )
            )
        return segments


@register_backbone("inception_v3")
def inception_v3(large_feature_map: bool = False) -> InceptionBackbone:
    """InceptionV3 in WSOL form: 14x14x768 at 224 px (28x28 with ``large_feature_map``)."""
    return InceptionBackbone(large_feature_map=large_feature_map)
