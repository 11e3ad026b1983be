"""A small conv-BN-ReLU backbone for CPU runs (the 96-px synthetic benchmark and the tests)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from wsol.models.base import Backbone
from wsol.models.features import Segment
from wsol.models.init import init_he
from wsol.models.param_rules import NewParamRule
from wsol.models.registry import register_backbone


def _conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]


class TinyBackbone(Backbone):
    """One Conv3x3-BN-ReLU block per stage, downsampling by 2 (a stride-2 stem conv, then
    MaxPool(2) after the others), then one more block at the final resolution.

    With the default widths (16, 32, 96): about 117k parameters and 33M multiply-adds per 88-px
    image (a second conv per stage would cost 2.5x as much on the CPU for little gain), stride 8,
    12x12 features on 96-px inputs. ``large_feature_map`` drops the last pool (stride 4, 24x24
    at 96 px). There are
    no pretrained weights; everything counts as backbone (base learning rate) in both rules.

    Stages: ``stage1`` ... ``stage<len(widths)>`` (one per width, each ending with its
    downsampling) and ``final`` (the extra conv); the modules are ``stages[0]``, ``stages[1]``,
    ... (the state-dict keys ``stages.N.*``).

    Args:
        widths: output channels of each stage.
        large_feature_map: keep the resolution of the last stage.
    """

    def __init__(self, widths: Sequence[int] = (16, 32, 96), large_feature_map: bool = False):
        super().__init__()
        widths = tuple(int(w) for w in widths)
        if not widths or min(widths) < 1:
            raise ValueError(f"tiny backbone widths must be positive integers, got {widths}")
        stages = []
        in_channels = 3
        for index, width in enumerate(widths):
            downsample = not (large_feature_map and index == len(widths) - 1)
            if index == 0 and downsample:
                # The stem convolves with stride 2 instead of pooling a full-resolution map:
                # the same weights and receptive field at 1.75x the training speed on a CPU.
                layers = _conv_bn_relu(in_channels, width, stride=2)
            else:
                layers = _conv_bn_relu(in_channels, width)
                if downsample:
                    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            stages.append(nn.Sequential(*layers))
            in_channels = width
        # One more conv at the final resolution widens the receptive field (about 54 px) where
        # the class maps are read, at a fraction of the cost of a second conv per stage.
        stages.append(nn.Sequential(*_conv_bn_relu(in_channels, in_channels)))
        self.stages = nn.Sequential(*stages)
        self.widths = widths
        self.large_feature_map = bool(large_feature_map)
        self.out_channels = widths[-1]
        self.stride = 2 ** (len(widths) - (1 if large_feature_map else 0))
        self.new_param_rule = NewParamRule()
        self.we_new_param_rule = NewParamRule(pretrained_prefixes=("stages.",))
        init_he(self)

    def segments(self) -> list[Segment]:
        """``stage1`` ... ``stageN`` (one per width) and ``final``; features >= 0."""
        count = len(self.widths)
        segments, stride = [], 1
        for index, stage in enumerate(self.stages):
            downsample = index < count and not (self.large_feature_map and index == count - 1)
            stride *= 2 if downsample else 1
            name = f"stage{index + 1}" if index < count else "final"
            channels = self.widths[min(index, count - 1)]
            segments.append(Segment((name,), [stage], channels, stride, f"stages.{index}", True))
        return segments


@register_backbone("tiny")
def tiny(large_feature_map: bool = False, widths: Sequence[int] = (16, 32, 96)) -> TinyBackbone:
    """Build the tiny backbone (see :class:`TinyBackbone`)."""
    return TinyBackbone(widths=widths, large_feature_map=large_feature_map)
