"""VGG16 in its WSOL forms, chosen by options: a pooling plan, conv6, a 3x3 smoothing.

Every form keeps torchvision's 13 convs in ``features`` (so ImageNet weights load once the
``features.N`` indices are re-mapped conv by conv); the options change only the pools and what
follows conv5_3:

- ``pools="2x2"`` (default, the CAM network): torchvision's 2x2/s2 pools 1-4, pool5 dropped, then
  conv6 = Conv3x3(512→1024, p1) + ReLU: 14x14x1024 at 224 px. ``large_feature_map`` also drops
  pool4: 28x28x1024.
- ``pools="3x3", conv6=False, smoothing=True`` (the ACoL network, WE default; configs/backbone/
  vgg16_pool3x3.yaml): MaxPool(3, s2, p1) as pools 1-4, MaxPool(3, s1, p1) as pool5, then the
  AvgPool(3, s1, p1) smoothing: 14x14x512; with ``large_feature_map`` (the official ACoL
  network) pool4 is MaxPool(3, s1, p1) too: 28x28.
- ``pools="pool4_3x3", conv6=False`` (the SPG network; configs/backbone/vgg16_pool4_3x3.yaml):
  2x2/s2 pools 1-3, MaxPool(3, s2, p1) as pool4 (dropped with ``large_feature_map``), no pool5:
  ends at conv5_3, 14x14x512.
- an explicit list of five pools (``max2``, ``max3s2``, ``max3s1`` or null) for other plans.

Points (:mod:`wsol.models.features`): ``conv<s>_<k>`` after each conv's ReLU, ``pool<s>`` after
each kept pool; stage ``block<s>`` ends at its pool (or its last conv when the pool is dropped);
the last stage is ``conv6``, ``smooth`` or ``block5``.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from wsol.models.base import Backbone
from wsol.models.features import Segment
from wsol.models.init import init_he
from wsol.models.param_rules import NewParamRule
from wsol.models.registry import register_backbone

VGG16_STAGES = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))

# Pool after each of the five stages: None (dropped), "max2" (torchvision's 2x2/s2),
# "max3s2" (3x3, stride 2, pad 1) or "max3s1" (3x3, stride 1, pad 1).
POOL_PLANS = {
    ("2x2", False): ("max2", "max2", "max2", "max2", None),
    ("2x2", True): ("max2", "max2", "max2", None, None),
    ("3x3", False): ("max3s2", "max3s2", "max3s2", "max3s2", "max3s1"),
    ("3x3", True): ("max3s2", "max3s2", "max3s2", "max3s1", "max3s1"),
    # 2x2 pools 1-3, pool4 MaxPool(3, s2, p1) (dropped with large_feature_map), no pool5: the
    # benchmark's SPG network (VggSpg: its F.max_pool2d after conv4_3; no conv6 either).
    ("pool4_3x3", False): ("max2", "max2", "max2", "max3s2", None),
    ("pool4_3x3", True): ("max2", "max2", "max2", None, None),
}
POOL_KINDS = ("max2", "max3s2", "max3s1", None)


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


def _conv_indices(keys: Sequence[str], prefix: str = "features.") -> list[int]:
    """Sorted distinct layer indices N of the keys ``features.N.*``."""
    return sorted(
        {int(key[len(prefix) :].split(".", 1)[0]) for key in keys if key.startswith(prefix)}
    )


def resolve_pools(pools: str | Sequence[str | None], large_feature_map: bool) -> tuple:
    """The five pools of a plan name (``2x2``, ``3x3``, ``pool4_3x3``) or of an explicit list.

    Raises:
        ValueError: naming ``backbone.pools`` for an unknown plan, kind or length.
    """
    if isinstance(pools, str):
        if (pools, bool(large_feature_map)) not in POOL_PLANS:
            plans = ", ".join(dict.fromkeys(plan for plan, _ in POOL_PLANS))
            raise ValueError(f"backbone.pools: unknown plan {pools!r}; plans: {plans}")
        return POOL_PLANS[(pools, bool(large_feature_map))]
    plan = tuple(None if p in (None, "none", "null") else str(p) for p in pools)
    if len(plan) != 5 or any(p not in POOL_KINDS for p in plan):
        raise ValueError(
            f"backbone.pools: five entries of {POOL_KINDS} (or a plan name), got {list(pools)}"
        )
    return plan


class VGGBackbone(Backbone):
    """VGG16 features with a pooling plan, then conv6, the smoothing or nothing (module table).

    The parameter names stay torchvision's ``features.N.*`` (plus ``conv6.*``).

    Learning-rate rules: clean, ``conv6.`` is new (not pretrained); WE, everything outside
    ``features.`` is new (so conv6 and every head train at the new-layer rate).

    Args:
        pools: a plan name (``"2x2"``, ``"3x3"``, ``"pool4_3x3"``) or five pool kinds, one after
            each conv stage.
        large_feature_map: for a plan name, its 28x28 variant.
        conv6: add conv6 = Conv3x3(512→1024, p1) + ReLU (C = 1024; else 512).
        smoothing: without conv6, end with AvgPool(3, s1, p1) (both ACoL codes do).
    """

    torchvision_weights = "VGG16_Weights.IMAGENET1K_V1"

    def __init__(
        self,
        pools: str | Sequence[str | None] = "2x2",
        large_feature_map: bool = False,
        conv6: bool = True,
        smoothing: bool = False,
    ):
        super().__init__()
        if conv6 and smoothing:
            raise ValueError("backbone.smoothing needs backbone.conv6: false (the ACoL network)")
        self.pools = resolve_pools(pools, large_feature_map)
        self.features = make_vgg_features(self.pools)
        self.stride = 2 ** sum(pool in ("max2", "max3s2") for pool in self.pools)
        self.conv6 = nn.Conv2d(512, 1024, kernel_size=3, padding=1) if conv6 else None
        self.relu6 = nn.ReLU(inplace=False) if conv6 else None
        self.smooth = nn.AvgPool2d(3, stride=1, padding=1) if smoothing else None
        self.out_channels = 1024 if conv6 else 512
        init_he(self.features)
        if conv6:
            init_he(self.conv6)
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

    def segments(self) -> list[Segment]:
        """``conv<s>_<k>`` (conv + ReLU) and ``pool<s>`` points; stage ``block<s>`` ends at its
        pool or last conv; then ``conv6`` or ``smooth`` when present. Features >= 0."""
        layers, segments, index, stride = list(self.features), [], 0, 1
        for stage, (widths, pool) in enumerate(zip(VGG16_STAGES, self.pools, strict=True), 1):
            for k, width in enumerate(widths, 1):
                ends = pool is None and k == len(widths)
                names = (f"conv{stage}_{k}",) + ((f"block{stage}",) if ends else ())
                segments.append(
                    Segment(
                        names,
                        layers[index : index + 2],
                        width,
                        stride,
                        f"features.{index + 1}",
                        stage_end=ends,
                    )
                )
                index += 2
            if pool is not None:
                stride *= 2 if pool in ("max2", "max3s2") else 1
                ends = True
                names = (f"pool{stage}", f"block{stage}")
                segments.append(
                    Segment(
                        names,
                        [layers[index]],
                        widths[-1],
                        stride,
                        f"features.{index}",
                        stage_end=ends,
                    )
                )
                index += 1
        if self.conv6 is not None:
            segments.append(
                Segment(("conv6",), [self.conv6, self.relu6], 1024, stride, "relu6", True)
            )
        elif self.smooth is not None:
            segments.append(Segment(("smooth",), [self.smooth], 512, stride, "smooth", True))
        return segments


@register_backbone("vgg16")
def vgg16(
    large_feature_map: bool = False,
    pools: str | Sequence[str | None] = "2x2",
    conv6: bool = True,
    smoothing: bool = False,
) -> VGGBackbone:
    """VGG16 in WSOL form (default CAM's: 14x14x1024 at 224 px, 28x28 with
    ``large_feature_map``); ``pools="3x3", conv6=False, smoothing=True`` is the ACoL network."""
    return VGGBackbone(pools, large_feature_map=large_feature_map, conv6=conv6, smoothing=smoothing)
