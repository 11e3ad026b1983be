"""A small conv-BN-ReLU backbone for CPU runs (the 96-px synthetic benchmark and the tests)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from wsol.models.base import Backbone
from wsol.models.init import init_he
from wsol.models.param_rules import NewParamRule


def _conv_bn_relu(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]


class TinyBackbone(Backbone):
    """One Conv3x3-BN-ReLU block per stage, each followed by MaxPool(2), then one more block.

    With the default widths (24, 48, 96): about 137k parameters and 66M multiply-adds per 88-px
    image (a second conv per stage would cost 2.5x as much on the CPU for little gain), stride 8,
    12x12 features on 96-px inputs. ``large_feature_map`` drops the last pool (stride 4, 24x24 at 96 px). There are
    no pretrained weights; everything counts as backbone (base learning rate) in both rules.
    Class-map heads on it default to twice its last width (``head_width``), not the papers' 1024.

    Args:
        widths: output channels of each stage.
        large_feature_map: keep the resolution of the last stage.
    """

    def __init__(self, widths: Sequence[int] = (24, 48, 96), large_feature_map: bool = False):
        super().__init__()
        widths = tuple(int(w) for w in widths)
        if not widths or min(widths) < 1:
            raise ValueError(f"tiny backbone widths must be positive integers, got {widths}")
        self.head_width = 2 * widths[-1]
        stages = []
        in_channels = 3
        for index, width in enumerate(widths):
            layers = _conv_bn_relu(in_channels, width)
            if not (large_feature_map and index == len(widths) - 1):
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            stages.append(nn.Sequential(*layers))
            in_channels = width
        # One more conv at the final resolution widens the receptive field (about 54 px) where
        # the class maps are read, at a fraction of the cost of a second conv per stage.
        stages.append(nn.Sequential(*_conv_bn_relu(in_channels, in_channels)))
        self.stages = nn.Sequential(*stages)
        self.out_channels = widths[-1]
        self.stride = 2 ** (len(widths) - (1 if large_feature_map else 0))
        self.new_param_rule = NewParamRule()
        self.we_new_param_rule = NewParamRule(pretrained_prefixes=("stages.",))
        init_he(self)

    def forward(self, x: Tensor) -> Tensor:
        """Args: x: [B, 3, H, W]. Returns: features [B, widths[-1], H/stride, W/stride], >= 0."""
        return self.stages(x)


def tiny(large_feature_map: bool = False, widths: Sequence[int] = (24, 48, 96)) -> TinyBackbone:
    """Build the tiny backbone (see :class:`TinyBackbone`)."""
    return TinyBackbone(widths=widths, large_feature_map=large_feature_map)
