"""ResNet backbones in their WSOL form: layer4 (and optionally layer3) at stride 1.

The torchvision network is reused as is (same parameter names, so torchvision state dicts load
after dropping ``fc.``); only the strides of the first block of the stage change, in its strided
conv (``conv2`` of a Bottleneck, ``conv1`` of a BasicBlock) and in its downsample conv. The
pretrained weights stay valid: a stride changes no weight shape.
"""

from __future__ import annotations

import torchvision
from torch import Tensor, nn

from wsol.models.base import Backbone
from wsol.models.features import Segment
from wsol.models.param_rules import NewParamRule
from wsol.models.registry import register_backbone


def _unstride_first_block(stage: nn.Sequential) -> None:
    """Set every stride-2 conv of the stage's first block (main path and downsample) to 1."""
    for module in stage[0].modules():
        if isinstance(module, nn.Conv2d) and module.stride != (1, 1):
            module.stride = (1, 1)


class ResNetBackbone(Backbone):
    """torchvision ResNet without avgpool and fc; layer4 at stride 1.

    Stages: ``stem``, ``layer1`` ... ``layer4`` (torchvision's modules and parameter names;
    canonical ``stage1`` ... ``stage4``, ``final``); positions: every residual block,
    ``layer<L>.<i>`` (the benchmark's ADL sits after ``layer3.0``, ``layer4.0``, ``layer4.2``).
    Features at 224 px: 14x14 (stride 16); ``large_feature_map`` also runs layer3 at stride 1:
    28x28 (stride 8). C = 2048 (ResNet50) or 512 (ResNet18).

    Learning-rate rules: clean, nothing in the backbone is new; WE, ``layer4.`` and ``fc.`` are
    new (its CAM classifier was ``fc``; its ACoL heads were not, so they train at 1x there).

    Args:
        arch: ``"resnet18"`` or ``"resnet50"`` (a torchvision builder name).
        large_feature_map: layer3 at stride 1 too.
    """

    torchvision_weights_by_arch = {
        "resnet18": "ResNet18_Weights.IMAGENET1K_V1",
        "resnet50": "ResNet50_Weights.IMAGENET1K_V1",
    }

    def __init__(self, arch: str = "resnet50", large_feature_map: bool = False):
        super().__init__()
        if arch not in self.torchvision_weights_by_arch:
            raise ValueError(
                f"ResNetBackbone arch must be one of {sorted(self.torchvision_weights_by_arch)}, "
                f"got {arch!r}"
            )
        net = getattr(torchvision.models, arch)(weights=None)
        _unstride_first_block(net.layer4)
        if large_feature_map:
            _unstride_first_block(net.layer3)
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            net.layer1,
            net.layer2,
            net.layer3,
            net.layer4,
        )
        self.out_channels = net.fc.in_features
        self.stride = 8 if large_feature_map else 16
        self.torchvision_weights = self.torchvision_weights_by_arch[arch]
        self.new_param_rule = NewParamRule()
        self.we_new_param_rule = NewParamRule(new_prefixes=("layer4.", "fc."))

    def adapt_state_dict(self, state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
        """Drop the classifier (``fc.*``) of a torchvision ResNet state dict."""
        return {key: value for key, value in state_dict.items() if not key.startswith("fc.")}

    def segments(self) -> list[Segment]:
        """``stem`` (conv1, bn1, relu, maxpool), then one point per residual block
        ``layer<L>.<i>``; the last block of ``layer<L>`` ends that stage. Features >= 0."""
        segments = [
            Segment(
                ("stem",),
                [self.conv1, self.bn1, self.relu, self.maxpool],
                64,
                4,
                "maxpool",
                stage_end=True,
            )
        ]
        stride = 4
        for index in range(1, 5):
            layer = getattr(self, f"layer{index}")
            for block_index, block in enumerate(layer):
                for module in block.modules():
                    if isinstance(module, nn.Conv2d) and module.stride == (2, 2):
                        stride *= 2
                        break
                last = block_index == len(layer) - 1
                names = (f"layer{index}.{block_index}",) + ((f"layer{index}",) if last else ())
                channels = _block_channels(block)
                segments.append(
                    Segment(
                        names,
                        [block],
                        channels,
                        stride,
                        f"layer{index}.{block_index}",
                        stage_end=last,
                    )
                )
        return segments


def _block_channels(block: nn.Module) -> int:
    """Output channels of a torchvision BasicBlock/Bottleneck (its last BatchNorm's width)."""
    last = block.bn3 if hasattr(block, "bn3") else block.bn2
    return last.num_features


@register_backbone("resnet18")
def resnet18(large_feature_map: bool = False) -> ResNetBackbone:
    """ResNet18 in WSOL form: 14x14x512 at 224 px (28x28 with ``large_feature_map``)."""
    return ResNetBackbone("resnet18", large_feature_map=large_feature_map)


@register_backbone("resnet50")
def resnet50(large_feature_map: bool = False) -> ResNetBackbone:
    """ResNet50 in WSOL form: 14x14x2048 at 224 px (28x28 with ``large_feature_map``)."""
    return ResNetBackbone("resnet50", large_feature_map=large_feature_map)
