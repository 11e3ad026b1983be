"""ACoL (Zhang et al., CVPR 2018): two class-map branches, B trained on features A's map erased.

Semantics (docs/methods.md#acol):

- Branch A (:class:`ClassMapHead`) runs on the backbone features. Its class map at the erase
  label, **detached** and min-max normalized over space per image, is the attention.
- Branch B runs on the **non-detached** features with every position where attention >= δ
  zeroed on all channels; B's loss trains the backbone where nothing was erased.
- Loss = CE(A) + CE(B). Classification uses A's logits.
- Localization map = max(minmax(A), minmax(B)) per class channel (each min-max over space).

Erase label: the given labels (training: GT; GT-known evaluation, as WE does: GT); argmax of A
when ``labels`` is None. ``erase_with="prediction"`` makes evaluation (``not self.training``)
erase with argmax(A) even when labels are given.

Constant maps: where a map is constant over space (max == min) or NaN, min-max normalization
has no meaning (the reference divides by zero and gets NaN, which then erases nothing). Here
such a map normalizes to all zeros: a constant attention erases nothing (δ > 0), and a constant
channel adds nothing to the fused map. ``aux["num_constant_attention"]`` counts the images
whose attention was constant; training logs their share as ``train/constant_attention``.
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from torch import Tensor

from wsol.cams.normalize import minmax_normalize
from wsol.configuration.validate import Interval
from wsol.methods.base import WSOLMethod
from wsol.methods.cam import HeadFactory
from wsol.methods.outputs import ExtraMap, MethodOutput
from wsol.models.base import Backbone
from wsol.models.erasing import erase_above_threshold
from wsol.models.heads import ClassMapHead
from wsol.models.param_rules import check_lr_rule

ERASE_WITH = ("label", "prediction")


def minmax_over_space(maps: Tensor) -> tuple[Tensor, Tensor]:
    """Min-max normalize each map over its spatial positions (`wsol.cams.normalize`'s rule).

    Args:
        maps: [B, K, h, w] (any leading dims; the last two are space).

    Returns:
        normalized: same shape, in [0, 1]; maps that are constant or hold NaN/inf become 0.
        constant: [B, K] bool, True where the map was constant or not finite.
    """
    return minmax_normalize(maps)


def label_attention(maps_a: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """Branch A's map of each image's label, detached and min-max normalized over space.

    Args:
        maps_a: [B, K, h, w] class maps of branch A.
        labels: [B] class ids.

    Returns:
        attention: [B, h, w] in [0, 1], no gradient (all zeros where the map is constant/NaN).
        constant: [B] bool, True where the map was constant or NaN.
    """
    picked = maps_a.detach()[torch.arange(maps_a.shape[0], device=maps_a.device), labels]
    attention, constant = minmax_over_space(picked.unsqueeze(1))
    return attention.squeeze(1), constant.squeeze(1)


def fuse_maps(maps_a: Tensor, maps_b: Tensor) -> Tensor:
    """Elementwise max of the per-(image, class) min-max normalized maps.

    Args:
        maps_a, maps_b: [B, K, h, w] class maps of the two branches.

    Returns:
        [B, K, h, w] in [0, 1].
    """
    return torch.maximum(minmax_over_space(maps_a)[0], minmax_over_space(maps_b)[0])


class ACoLMethod(WSOLMethod):
    """Adversarial complementary learning with two :class:`ClassMapHead` branches.

    Args:
        backbone: feature extractor (VGG: configs/backbone/vgg16_pool3x3.yaml: 3x3 pools and
            the smoothing).
        num_classes: K.
        erase_threshold: δ; positions with normalized attention >= δ are erased. Must be > 0;
            above 1 nothing is erased. WE default 0.7; the official scripts use 0.6.
        head: factory of each branch, ``head(backbone.out_channels, num_classes)`` (a Hydra
            ``_partial_`` node); None: :class:`ClassMapHead` of width 1024 (the paper's).
        erase_with: ``"label"`` (WE: erase with the given labels, argmax(A) without labels) or
            ``"prediction"`` (in evaluation, always erase with argmax(A)).
        lr_rule: ``"clean"`` (both heads new) or ``"we"`` (WE's name patterns: VGG heads new,
            ResNet heads at the base rate and layer4 new).
    """

    head_we_names = {"head_a": "classifier_A", "head_b": "classifier_B"}
    extra_maps = {"maps_a": ExtraMap("branch A"), "maps_b": ExtraMap("branch B")}

    def __init__(
        self,
        backbone: Backbone,
        num_classes: int,
        erase_threshold: Annotated[float, Interval(0, 1, low_open=True, high_open=True)] = 0.7,
        head: HeadFactory | None = None,
        erase_with: str = "label",
        lr_rule: str = "clean",
    ):
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if not 0 < erase_threshold < 1:
            raise ValueError(f"erase_threshold must be in (0, 1), got {erase_threshold}")
        if erase_with not in ERASE_WITH:
            raise ValueError(f"erase_with must be one of {ERASE_WITH}, got {erase_with!r}")
        self.backbone = backbone
        self.num_classes = int(num_classes)
        self.erase_threshold = float(erase_threshold)
        self.erase_with = erase_with
        self.lr_rule = check_lr_rule(lr_rule)
        head = head or ClassMapHead
        self.head_a = head(backbone.out_channels, self.num_classes)
        self.head_b = head(backbone.out_channels, self.num_classes)

    def erase_labels(self, logits_a: Tensor, labels: Tensor | None) -> Tensor:
        """[B] class ids whose A map drives the erasing (see the module docstring)."""
        if labels is None or (not self.training and self.erase_with == "prediction"):
            return logits_a.detach().argmax(dim=1)
        if labels.shape != logits_a.shape[:1]:
            raise ValueError(
                f"labels must be [B] = [{logits_a.shape[0]}], got {list(labels.shape)}"
            )
        return labels

    def forward(self, images: Tensor, labels: Tensor | None = None) -> MethodOutput:
        """Args: images: [B, 3, H, W]; labels: [B] class ids or None.

        Returns:
            logits: [B, K] of branch A. class_maps: [B, K, h, w] fused maps in [0, 1] (detached).
            aux: ``logits_b`` [B, K]; ``maps_a``, ``maps_b`` [B, K, h, w] (raw); ``attention``
            [B, h, w]; ``erase_labels`` [B]; ``constant_attention`` [B] bool;
            ``num_constant_attention`` and ``erased_fraction`` (0-dim).
        """
        features = self.backbone(images)
        maps_a, logits_a = self.head_a(features, return_maps=True)
        erase_labels = self.erase_labels(logits_a, labels)
        attention, constant = label_attention(maps_a, erase_labels)
        erased = erase_above_threshold(features, attention, self.erase_threshold)
        maps_b, logits_b = self.head_b(erased, return_maps=True)
        fused = fuse_maps(maps_a.detach(), maps_b.detach())
        aux = {
            "logits_b": logits_b,
            "maps_a": maps_a,
            "maps_b": maps_b,
            "attention": attention,
            "erase_labels": erase_labels,
            "constant_attention": constant,
            "num_constant_attention": constant.sum(),
            "erased_fraction": (attention >= self.erase_threshold).float().mean(),
        }
        return MethodOutput(logits=logits_a, class_maps=fused, aux=aux)

    def loss(self, output: MethodOutput, labels: Tensor) -> dict[str, Tensor]:
        """``{"loss": loss_a + loss_b, "loss_a": CE(A), "loss_b": CE(B)}``, unweighted."""
        loss_a = F.cross_entropy(output.logits, labels)
        loss_b = F.cross_entropy(output.aux["logits_b"], labels)
        return {"loss": loss_a + loss_b, "loss_a": loss_a, "loss_b": loss_b}

    def extra_scalars(self, output: MethodOutput) -> dict[str, Tensor]:
        """``constant_attention`` (share of images whose attention was constant, so nothing
        was erased) and ``erased_fraction`` (share of feature positions erased)."""
        aux = output.aux
        return {
            "constant_attention": aux["constant_attention"].float().mean(),
            "erased_fraction": aux["erased_fraction"],
        }

    def extra_repr(self) -> str:
        return f"erase_threshold={self.erase_threshold}, erase_with={self.erase_with!r}"
