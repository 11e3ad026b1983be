"""SPG, Self-produced Guidance (Zhang et al., ECCV 2018), as the wsolevaluation benchmark runs it.

Network (the benchmark's ``VggSpg`` / ``ResNetSpg`` / ``InceptionSpg``, one class here):

- **A** (classifier, :class:`SPGClassifier`): on the backbone features, ``num_convs`` x
  [dropout → Conv3x3(→width) → ReLU] → dropout → the *penultimate map* P → Conv1x1(→K): the
  class maps; logits = their spatial mean. VGG16: two 512-wide convs; ResNet50: none (P is
  layer4's output); InceptionV3: two 1024-wide convs with dropout 0.5 (the CAM head).
- **B1 / B2** (seed branches on intermediate features): Conv3x3(C_tap→w)+ReLU of their own,
  then one *shared* Conv3x3(w→w)+ReLU → Conv1x1(w→1): one-channel logits. B1 reads the
  position ``b1_at`` and B2 the position ``b2_at`` of the backbone (contract names).
- **C**: Conv3x3(C_P→c_width)+ReLU → Conv1x1(c_width→1) on P.

Xavier-uniform conv weights and zero biases for every new layer (the benchmark's init).

Guidance and loss (:mod:`wsol.methods.spg_seeds`, every map upsampled to the input frame):

- attention = the A class map at the label (argmax without labels), min-max normalized;
- loss = CE(logits) + BCE(B2 | seeds(attention; 1h, 1l)) + BCE(B1 | seeds(σ(B2); 2h, 2l))
  + BCE(C | seeds((σ(B1) + σ(B2)) / 2; 3h, 3l)), unweighted, each BCE over non-ignored pixels;
  thresholds default to the benchmark's ``spg_threshold_*`` (0.7/0.01, 0.5/0.05, 0.7/0.1).

Scored map: the A class maps (``SPG_A4``'s output, raw), as the benchmark's ``return_cam``.
The B and C maps are shown and can be scored next to it (``extra_maps``, one map per image).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Annotated

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wsol.configuration.validate import Interval
from wsol.methods.base import WSOLMethod
from wsol.methods.outputs import ExtraMap, MethodOutput
from wsol.methods.spg_seeds import (
    fused_attention,
    label_attention,
    seed_fractions,
    seed_loss,
    seed_mask,
    upsample_maps,
)
from wsol.models.base import Backbone
from wsol.models.init import init_xavier
from wsol.models.param_rules import (
    ParamRole,
    check_lr_rule,
    classify_params,
    describe_method_groups,
    describe_roles,
    param_groups_from_roles,
)

Unit = Annotated[float, Interval(0, 1)]
#: ``head(in_channels, num_classes) -> SPGClassifier``-like module (a Hydra ``_partial_`` node).
ClassifierFactory = Callable[[int, int], nn.Module]


def conv_relu(in_channels: int, out_channels: int) -> list[nn.Module]:
    """Conv3x3(pad 1) + ReLU, the building block of every SPG branch."""
    return [nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1), nn.ReLU(inplace=True)]


class SPGClassifier(nn.Module):
    """SPG's classifier A: [dropout → Conv3x3 → ReLU] x num_convs → dropout → P → Conv1x1(→K).

    Args:
        in_channels: C of the backbone features.
        num_classes: K.
        width: channels of the 3x3 convs (unused when ``num_convs`` is 0).
        num_convs: number of Conv3x3+ReLU layers before the class-map conv.
        dropout: probability of the dropout before each conv and before P (0: none).

    Attributes:
        out_channels: C of the penultimate map P (what branch C reads).
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        width: Annotated[int, Interval(1, integer=True)] = 512,
        num_convs: Annotated[int, Interval(0, integer=True)] = 2,
        dropout: Annotated[float, Interval(0, 1, high_open=True)] = 0.0,
    ):
        super().__init__()
        if width < 1 or num_convs < 0 or not 0 <= dropout < 1:
            raise ValueError(
                f"SPGClassifier: width >= 1, num_convs >= 0, dropout in [0, 1) expected; got "
                f"width={width}, num_convs={num_convs}, dropout={dropout}"
            )
        layers: list[nn.Module] = []
        channels = in_channels
        for _ in range(num_convs):
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            layers += conv_relu(channels, width)
            channels = width
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        self.trunk = nn.Sequential(*layers)
        self.classifier = nn.Conv2d(channels, num_classes, kernel_size=1)
        self.out_channels = channels
        init_xavier(self)

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Args: features: [B, C, h, w].

        Returns:
            class maps [B, K, h, w], logits [B, K] (their spatial mean), P [B, C_P, h, w].
        """
        penultimate = self.trunk(features)
        maps = self.classifier(penultimate)
        return maps, maps.mean(dim=(2, 3)), penultimate


class SeedBranch(nn.Module):
    """A one-channel branch: ``entry`` Conv3x3(C→width)+ReLU, then ``tail`` → logits [B, 1, h, w].

    SPG's B1 and B2 each own their entry conv and share one tail, Conv3x3(width→width)+ReLU →
    Conv1x1(width→1) (:func:`seed_tail`); C's tail is the Conv1x1(width→1) alone.
    """

    def __init__(self, in_channels: int, width: int, tail: nn.Module):
        super().__init__()
        self.entry = nn.Sequential(*conv_relu(in_channels, width))
        self.tail = tail
        init_xavier(self.entry)

    def forward(self, features: Tensor) -> Tensor:
        """Args: features: [B, C, h, w]. Returns: logits [B, 1, h, w]."""
        return self.tail(self.entry(features))


def seed_tail(width: int, convs: int = 1) -> nn.Sequential:
    """``convs`` x [Conv3x3(width→width)+ReLU] → Conv1x1(width→1), Xavier-initialized."""
    layers: list[nn.Module] = []
    for _ in range(convs):
        layers += conv_relu(width, width)
    tail = nn.Sequential(*layers, nn.Conv2d(width, 1, kernel_size=1))
    init_xavier(tail)
    return tail


class SPGMethod(WSOLMethod):
    """Self-produced guidance (see the module docstring).

    Args:
        backbone: the feature extractor; ``b1_at`` and ``b2_at`` name two of its positions.
        num_classes: K.
        b1_at, b2_at: backbone positions read by B1 and B2 (benchmark: VGG16 after pool4 and
            after conv5_3; ResNet50 after layer3's first block and after layer3; InceptionV3
            after the pool behind Mixed_5d and after Mixed_6d).
        head: factory of classifier A, ``head(backbone.out_channels, num_classes)``; None:
            :class:`SPGClassifier` with its defaults (the VGG16 layout).
        branch_width: channels of B1/B2 (benchmark: VGG16 512, ResNet50 1024, InceptionV3 512).
        c_width: channels of C's 3x3 conv (benchmark: 512 on every backbone).
        threshold_1h, threshold_1l: B2's seeds from the attention (``spg_threshold_1h/1l``).
        threshold_2h, threshold_2l: B1's seeds from σ(B2) (``spg_threshold_2h/2l``).
        threshold_3h, threshold_3l: C's seeds from (σ(B1) + σ(B2)) / 2 (``spg_threshold_3h/3l``).
        min_foreground: pixels above the high threshold below which a seed mask falls back to
            ``fallback_ratio`` x the map's maximum (benchmark: 30 and 0.7, at 224 px).
        fallback_ratio: see ``min_foreground``.
        lr_rule: ``"clean"`` (every SPG layer new) or ``"we"`` (the benchmark's name patterns on
            its names ``SPG_A*``, ``SPG_B_*``, ``SPG_C``: new on VGG16 and InceptionV3, base
            rate on ResNet50).
        we_renamed: ``[after, until]``: the backbone layers between these two points (after
            ``after``, up to and including ``until``) that the benchmark's SPG model holds under
            its own ``SPG_A*`` names, which the ``"we"`` rule then matches (VGG16: pool3 →
            conv5_3, its SPG_A_1/SPG_A_2, so conv4/conv5 train at the new-layer rate there;
            ResNet50: layer3, no change under its rule). None: none renamed.
    """

    head_we_names = {
        "head": "SPG_A4",
        "branch_b1": "SPG_B_1a",
        "branch_b2": "SPG_B_2a",
        "branch_c": "SPG_C",
    }
    extra_maps = {
        "logits_b1": ExtraMap("B1", per_class=False),
        "logits_b2": ExtraMap("B2", per_class=False),
        "logits_c": ExtraMap("C", per_class=False),
    }

    def __init__(
        self,
        backbone: Backbone,
        num_classes: int,
        b1_at: str,
        b2_at: str,
        head: ClassifierFactory | None = None,
        branch_width: Annotated[int, Interval(1, integer=True)] = 512,
        c_width: Annotated[int, Interval(1, integer=True)] = 512,
        threshold_1h: Unit = 0.7,
        threshold_1l: Unit = 0.01,
        threshold_2h: Unit = 0.5,
        threshold_2l: Unit = 0.05,
        threshold_3h: Unit = 0.7,
        threshold_3l: Unit = 0.1,
        min_foreground: Annotated[int, Interval(0, integer=True)] = 30,
        fallback_ratio: Unit = 0.7,
        lr_rule: str = "clean",
        we_renamed: Sequence[str] | None = None,
    ):
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        thresholds = (threshold_1h, threshold_1l, threshold_2h, threshold_2l)
        thresholds += (threshold_3h, threshold_3l, fallback_ratio)
        if not all(0 <= t <= 1 for t in thresholds):
            raise ValueError(
                f"SPG thresholds and fallback_ratio must be in [0, 1], got {thresholds}"
            )
        self.backbone = backbone
        self.num_classes = int(num_classes)
        self.lr_rule = check_lr_rule(lr_rule)
        self.b1_at, self.b2_at = b1_at, b2_at
        # resolve() raises naming the backbone's points when a position does not exist.
        b1_channels, b2_channels = (backbone.resolve(p).channels for p in (b1_at, b2_at))
        self.seed_thresholds = (
            (float(threshold_1h), float(threshold_1l)),
            (float(threshold_2h), float(threshold_2l)),
            (float(threshold_3h), float(threshold_3l)),
        )
        self.min_foreground, self.fallback_ratio = int(min_foreground), float(fallback_ratio)
        self.head = (head or SPGClassifier)(backbone.out_channels, self.num_classes)
        shared = seed_tail(branch_width)
        self.branch_b1 = SeedBranch(b1_channels, branch_width, shared)
        self.branch_b2 = SeedBranch(b2_channels, branch_width, shared)
        self.branch_c = SeedBranch(self.head.out_channels, c_width, seed_tail(c_width, convs=0))
        self.we_renamed = tuple(we_renamed) if we_renamed else None
        #: names of the backbone parameters the "we" rule matches under an SPG_A name.
        self.we_renamed_params = params_between(backbone, *self.we_renamed) if we_renamed else set()

    # ------------------------------------------------------------------ parameter groups
    def param_roles(self) -> list[ParamRole]:
        """:func:`classify_params`, then the ``we_renamed`` backbone layers matched under the
        benchmark's ``SPG_A`` name (``"we"`` rule only)."""
        roles = classify_params(self, self.lr_rule, self.head_we_names)
        if self.lr_rule != "we" or not self.we_renamed_params:
            return roles
        rule = self.backbone.we_new_param_rule
        return [
            replace(role, new=rule.is_new(f"SPG_A.{role.name}"))
            if role.name in self.we_renamed_params
            else role
            for role in roles
        ]

    def param_groups(self, lr: float, head_lr_mult: float) -> list[dict]:
        """As :meth:`WSOLMethod.param_groups`, with the ``we_renamed`` layers (see the class)."""
        return param_groups_from_roles(self.param_roles(), lr, head_lr_mult)

    def describe_param_groups(self, lr: float, head_lr_mult: float) -> str:
        """The resolved groups as text (see :meth:`param_roles`)."""
        header = describe_method_groups(self, self.lr_rule, self.head_we_names, lr, head_lr_mult)
        header = header.splitlines()[0]
        if self.lr_rule == "we" and self.we_renamed:
            header += f"; backbone layers after {self.we_renamed[0]} up to {self.we_renamed[1]} "
            header += "matched as SPG_A*"
        return describe_roles(self.param_roles(), lr, head_lr_mult, header)

    # ------------------------------------------------------------------ forward
    def forward(self, images: Tensor, labels: Tensor | None = None) -> MethodOutput:
        """Args: images: [B, 3, H, W]; labels: [B] class ids (attention label) or None (argmax).

        Returns:
            logits [B, K] and class maps [B, K, h, w] of classifier A (the scored map). aux:
            ``logits_b1``, ``logits_b2``, ``logits_c`` [B, 1, h_*, w_*]; ``attention`` [B, H, W]
            and ``fused_attention`` [B, H, W] (detached); ``constant_attention`` [B] bool.
        """
        taps = tap_backbone(self.backbone, images, (self.b1_at, self.b2_at))
        maps, logits, penultimate = self.head(taps["final"])
        logits_b1 = self.branch_b1(taps[self.b1_at])
        logits_b2 = self.branch_b2(taps[self.b2_at])
        logits_c = self.branch_c(penultimate)
        if labels is None:
            labels = logits.detach().argmax(dim=1)
        frame = tuple(images.shape[-2:])
        attention, constant = label_attention(maps, labels, frame)
        aux = {
            "logits_b1": logits_b1,
            "logits_b2": logits_b2,
            "logits_c": logits_c,
            "attention": attention,
            "constant_attention": constant,
            "fused_attention": fused_attention(logits_b1, logits_b2, frame),
        }
        return MethodOutput(logits=logits, class_maps=maps, aux=aux)

    # ------------------------------------------------------------------ loss
    def seed_masks(self, output: MethodOutput) -> dict[str, Tensor]:
        """The three seed masks [B, H, W] (``b2``, ``b1``, ``c``: the branch each supervises)."""
        aux = output.aux
        (h1, l1), (h2, l2), (h3, l3) = self.seed_thresholds
        frame = tuple(aux["attention"].shape[-2:])
        options = {"min_foreground": self.min_foreground, "fallback_ratio": self.fallback_ratio}
        b2_probability = torch.sigmoid(upsample_maps(aux["logits_b2"].detach(), frame))[:, 0]
        return {
            "b2": seed_mask(
                aux["attention"], h1, l1, ignore_images=aux["constant_attention"], **options
            ),
            "b1": seed_mask(b2_probability, h2, l2, **options),
            "c": seed_mask(aux["fused_attention"], h3, l3, **options),
        }

    def loss(self, output: MethodOutput, labels: Tensor) -> dict[str, Tensor]:
        """``loss`` = ``loss_cls`` + ``loss_b2`` + ``loss_b1`` + ``loss_c`` (unweighted)."""
        masks = self.seed_masks(output)
        terms = {"loss_cls": F.cross_entropy(output.logits, labels)}
        for branch in ("b2", "b1", "c"):
            terms[f"loss_{branch}"], _ = seed_loss(output.aux[f"logits_{branch}"], masks[branch])
        return {"loss": sum(terms.values()), **terms}

    def extra_scalars(self, output: MethodOutput) -> dict[str, Tensor]:
        """``constant_attention`` (share of images whose attention gave no seeds) and, per
        mask, ``seeds_<branch>_fg`` / ``seeds_<branch>_bg`` (shares of its pixels)."""
        scalars = {"constant_attention": output.aux["constant_attention"].float().mean()}
        for branch, mask in self.seed_masks(output).items():
            foreground, background = seed_fractions(mask)
            scalars[f"seeds_{branch}_fg"] = foreground
            scalars[f"seeds_{branch}_bg"] = background
        return scalars

    def extra_repr(self) -> str:
        return (
            f"b1_at={self.b1_at!r}, b2_at={self.b2_at!r}, seed_thresholds={self.seed_thresholds}, "
            f"min_foreground={self.min_foreground}, fallback_ratio={self.fallback_ratio}"
        )


def params_between(backbone: Backbone, after: str, until: str) -> set[str]:
    """Names (``backbone.<local>``) of the parameters of the backbone layers after point
    ``after`` up to and including point ``until``.

    Raises:
        ValueError: when ``until`` does not come after ``after`` (or a name is unknown).
    """
    names = [info.name for info in backbone.positions]
    start, end = (names.index(backbone.resolve(name).name) for name in (after, until))
    if end <= start:
        raise ValueError(
            f"method.we_renamed: {until!r} must come after {after!r} in {type(backbone).__name__}"
        )
    ids = set()
    for segment in backbone.segments()[start + 1 : end + 1]:
        for layer in segment.layers:
            if isinstance(layer, nn.Module):
                ids.update(id(param) for param in layer.parameters())
    return {f"backbone.{name}" for name, param in backbone.named_parameters() if id(param) in ids}


def tap_backbone(
    backbone: Backbone, images: Tensor, positions: tuple[str, ...]
) -> dict[str, Tensor]:
    """One forward pass: the features (``"final"``) and the maps at ``positions`` (contract names).

    Returns:
        ``"final"`` → [B, C, h, w] features; each position → its map [B, C_p, h_p, w_p].
    """
    outputs = backbone.forward_stages(images, read=positions)
    return {"final": outputs["final"], **{p: outputs[p] for p in positions}}
