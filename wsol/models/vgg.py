"""VGG16 backbones in their WSOL forms: CAM (conv6, no pool5) and ACoL (3x3 pools, smoothing).

Both keep torchvision's 13 convs in ``features`` (so ImageNet weights load once the
``features.N`` indices are re-mapped conv by conv) and change only the pools:

- CAM: 2x2/s2 pools 1-4, pool5 dropped, then conv6 = Conv3x3(512→1024, p1) + ReLU:
  14x14x1024 at 224 px. ``large_feature_map`` also drops pool4: 28x28x1024.
- ACoL, WE default: MaxPool(3, s2, p1) as pools 1-4, MaxPool(3, s1, p1) as pool5, then the
  AvgPool(3, s1, p1) smoothing: 14x14x512.
- ACoL, ``large_feature_map`` (the official ACoL network): MaxPool(3, s2, p1) as pools 1-3,
  MaxPool(3, s1, p1) as pools 4-5, then the smoothing: 28x28x512.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from torch import Tensor, nn

from wsol.models.base import Backbone
from wsol.models.init import init_he
from wsol.models.param_rules import NewParamRule

VGG16_STAGES = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))

# Pool after each of the five stages: None (dropped), "max2" (torchvision's 2x2/s2),
# "max3s2" (3x3, stride 2, pad 1) or "max3s1" (3x3, stride 1, pad 1).
POOL_PLANS = {
    ("cam", False): ("max2", "max2", "max2", "max2", None),
    ("cam", True): ("max2", "max2", "max2", None, None),
    ("acol", False): ("max3s2", "max3s2", "max3s2", "max3s2", "max3s1"),
    ("acol", True): ("max3s2", "max3s2", "max3s2", "max3s1", "max3s1"),
}


def _pool(kind: str) -> nn.MaxPool2d:
    if kind == "max2":
        return nn.MaxPool2d(kernel_size=2, stride=2)
    return nn.MaxPool2d(kernel_size=3, stride=2 if kind == "max3s2" else 1, padding=1)


def make_vgg_features(pools: Sequence[str | None]) -> nn.Sequential:
    """VGG16 convs (3x3, pad 1, each + ReLU) with the given pool after each stage."""
    layers: list[nn.Module] = []
    in_channels = 3
    for widths, pool in zip(VGG16_STAGES, pools, strict=True):
        for width in widths:
            layers += [nn.Conv2d(in_channels, width, kernel_size=3, padding=1), nn.ReLU(True)]
            in_channels = width
        if pool is not None:
            layers.append(_pool(pool))
    return nn.Sequential(*layers)


def _block_starts(pools: Sequence[str | None]) -> list[int]:
    """Index in the ``make_vgg_features`` list where each stage starts, then the list's length."""
    starts = [0]
    for widths, pool in zip(VGG16_STAGES, pools, strict=True):
        starts.append(starts[-1] + 2 * len(widths) + (pool is not None))
    return starts


def _conv_indices(keys: Sequence[str], prefix: str = "features.") -> list[int]:
    """Sorted distinct layer indices N of the keys ``features.N.*``."""
    return sorted(
        {int(key[len(prefix) :].split(".", 1)[0]) for key in keys if key.startswith(prefix)}
    )


class VGGBackbone(Backbone):
    """VGG16 features in the CAM or the ACoL form (see the module table).

    Stages: ``block1`` ... ``block5`` (slices of ``features``: a stage's convs and its pool),
    then ``conv6`` or ``smooth``; the parameter names stay torchvision's ``features.N.*``.

    Learning-rate rules: clean, ``conv6.`` is new (not pretrained); WE, everything outside
    ``features.`` is new (so conv6 and every head train at the new-layer rate).

    Args:
        form: ``"cam"`` (adds conv6: C = 1024) or ``"acol"`` (C = 512).
        large_feature_map: 28x28 at 224 px instead of 14x14. For ACoL, True is the official
            ACoL network and False the WE default.
        smoothing: ACoL only: AvgPool(3, s1, p1) on the features, as both ACoL codes do.
    """

    torchvision_weights = "VGG16_Weights.IMAGENET1K_V1"

    def __init__(self, form: str = "cam", large_feature_map: bool = False, smoothing: bool = True):
        super().__init__()
        if form not in ("cam", "acol"):
            raise ValueError(f"VGGBackbone form must be 'cam' or 'acol', got {form!r}")
        pools = POOL_PLANS[(form, bool(large_feature_map))]
        self.form = form
        self.features = make_vgg_features(pools)
        #: index in ``features`` where each block starts, then len(features).
        self.block_starts = _block_starts(pools)
        self.stride = 2 ** sum(pool in ("max2", "max3s2") for pool in pools)
        if form == "cam":
            self.conv6 = nn.Conv2d(512, 1024, kernel_size=3, padding=1)
            self.relu6 = nn.ReLU(inplace=False)
            init_he(self.conv6)
            self.out_channels = 1024
        else:
            self.smooth = nn.AvgPool2d(3, stride=1, padding=1) if smoothing else nn.Identity()
            self.out_channels = 512
        init_he(self.features)
        self.new_param_rule = NewParamRule(new_prefixes=("conv6.",))
        self.we_new_param_rule = NewParamRule(pretrained_prefixes=("features.",))

    def adapt_state_dict(self, state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
        """Drop ``classifier.*`` and map the k-th conv of the file to this module's k-th conv.

        torchvision numbers ``features.N`` including the pools, so dropping pool4 shifts the
        indices of the conv5 layers; any other key passes through unchanged.
        """
        source = _conv_indices(list(state_dict))
        target = [i for i, m in enumerate(self.features) if isinstance(m, nn.Conv2d)]
        if source and len(source) != len(target):
            raise ValueError(
                f"VGG state dict has {len(source)} convs in features ({source}), "
                f"the backbone has {len(target)}"
            )
        index_map = dict(zip(source, target, strict=False))
        adapted = {}
        for key, value in state_dict.items():
            if key.startswith("classifier."):
                continue
            if key.startswith("features."):
                index, rest = key[len("features.") :].split(".", 1)
                key = f"features.{index_map[int(index)]}.{rest}"
            adapted[key] = value
        return adapted

    def stage_layers(self) -> dict[str, list[nn.Module]]:
        """``block1`` ... ``block5`` (the convs of a stage and its pool, when kept), then
        ``conv6`` (CAM form) or ``smooth`` (ACoL form); features >= 0."""
        layers = list(self.features)
        stages = {
            f"block{k + 1}": layers[start:end]
            for k, (start, end) in enumerate(pairwise(self.block_starts))
        }
        if self.form == "cam":
            stages["conv6"] = [self.conv6, self.relu6]
        else:
            stages["smooth"] = [self.smooth]
        return stages


def vgg16(large_feature_map: bool = False) -> VGGBackbone:
    """VGG16 in the CAM form: 14x14x1024 at 224 px (28x28 with ``large_feature_map``)."""
    return VGGBackbone("cam", large_feature_map=large_feature_map)


def vgg16_acol(large_feature_map: bool = False, smoothing: bool = True) -> VGGBackbone:
    """VGG16 in the ACoL form: 14x14x512 (WE) or 28x28x512 (official, ``large_feature_map``)."""
    return VGGBackbone("acol", large_feature_map=large_feature_map, smoothing=smoothing)
