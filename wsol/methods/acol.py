"""ACoL (Zhang et al., CVPR 2018): two class-map branches, B trained on features A's map erased.

Semantics (METHODS.md, "ACoL"):

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
whose attention was constant.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from wsol.methods.base import WSOLMethod
from wsol.methods.outputs import MethodOutput
from wsol.models.base import Backbone
from wsol.models.erasing import erase_above_threshold
from wsol.models.heads import ClassMapHead
from wsol.models.param_rules import (
    check_lr_rule,
    classify_params,
    describe_method_groups,
    param_groups_from_roles,
)

ERASE_WITH = ("label", "prediction")


def minmax_over_space(maps: Tensor) -> tuple[Tensor, Tensor]:
    """Min-max normalize each map over its spatial positions.

    Args:
        maps: [B, K, h, w] (any leading dims; the last two are space).

    Returns:
        normalized: same shape, in [0, 1]; maps that are constant or contain NaN become 0.
        constant: [B, K] bool, True where the map was constant or NaN.
    """
    flat = maps.flatten(-2)
    low = flat.amin(dim=-1, keepdim=True)
    span = flat.amax(dim=-1, keepdim=True) - low
    valid = span > 0  # False for a constant map and for NaN
    normalized = torch.where(valid, (flat - low) / torch.where(valid, span, 1.0), 0.0)
    return normalized.view_as(maps), ~valid.squeeze(-1)


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
        backbone: feature extractor (VGG: ``vgg16_acol``, which adds the 3x3 smoothing).
        num_classes: K.
        erase_threshold: δ; positions with normalized attention >= δ are erased. Must be > 0;
            above 1 nothing is erased. WE default 0.7; the official scripts use 0.6.
        head_width: channels of each branch's two 3x3 convs; None takes the backbone's
            ``head_width`` (1024 for VGG/ResNet as in the paper, 96 for the tiny backbone).
        erase_with: ``"label"`` (WE: erase with the given labels, argmax(A) without labels) or
            ``"prediction"`` (in evaluation, always erase with argmax(A)).
        lr_rule: ``"clean"`` (both heads new) or ``"we"`` (WE's name patterns: VGG heads new,
            ResNet heads at the base rate and layer4 new).
    """

    #: method attribute of each head → the layer name WE used for it (for ``lr_rule="we"``).
    head_we_names = {"head_a": "classifier_A", "head_b": "classifier_B"}

    def __init__(
        self,
        backbone: Backbone,
        num_classes: int,
        erase_threshold: float = 0.7,
        head_width: int | None = None,
        erase_with: str = "label",
        lr_rule: str = "clean",
    ):
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if not erase_threshold > 0:
            raise ValueError(f"erase_threshold must be > 0, got {erase_threshold}")
        if erase_with not in ERASE_WITH:
            raise ValueError(f"erase_with must be one of {ERASE_WITH}, got {erase_with!r}")
        self.backbone = backbone
        self.num_classes = int(num_classes)
        self.erase_threshold = float(erase_threshold)
        self.erase_with = erase_with
        self.lr_rule = check_lr_rule(lr_rule)
        width = int(head_width) if head_width is not None else int(backbone.head_width)
        self.head_a = ClassMapHead(backbone.out_channels, self.num_classes, width=width)
        self.head_b = ClassMapHead(backbone.out_channels, self.num_classes, width=width)

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

    def param_groups(self, lr: float, head_lr_mult: float) -> list[dict]:
        """Groups ``pretrained`` (lr) and ``new`` (lr * head_lr_mult) under ``self.lr_rule``."""
        roles = classify_params(self, self.lr_rule, self.head_we_names)
        return param_groups_from_roles(roles, lr, head_lr_mult)

    def describe_param_groups(self, lr: float, head_lr_mult: float) -> str:
        """The resolved groups as text: rule, lr, tensor/parameter counts, modules in each."""
        return describe_method_groups(self, self.lr_rule, self.head_we_names, lr, head_lr_mult)

    def extra_repr(self) -> str:
        return f"erase_threshold={self.erase_threshold}, erase_with={self.erase_with!r}"
