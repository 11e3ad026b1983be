"""CAM (Zhou et al., CVPR 2016): backbone → GAP → linear; the CAM of class y is Σ_k w[y,k] F_k."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from wsol.methods.base import WSOLMethod
from wsol.methods.outputs import MethodOutput
from wsol.models.base import Backbone
from wsol.models.heads import GAPHead
from wsol.models.param_rules import (
    check_lr_rule,
    classify_params,
    describe_method_groups,
    param_groups_from_roles,
)


class CAMMethod(WSOLMethod):
    """Class activation mapping with a GAP + linear head, trained with cross-entropy.

    Args:
        backbone: feature extractor (``out_channels``, ``stride``, learning-rate rules).
        num_classes: K.
        lr_rule: which parameters train at ``lr * head_lr_mult``: ``"clean"`` (the head and the
            backbone layers without pretrained weights, e.g. VGG's conv6) or ``"we"`` (the
            wsolevaluation name patterns: VGG everything outside ``features.``, ResNet
            ``layer4.`` and the head).
    """

    #: method attribute of each head → the layer name WE used for it (for ``lr_rule="we"``).
    head_we_names = {"head": "fc"}

    def __init__(self, backbone: Backbone, num_classes: int, lr_rule: str = "clean"):
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.backbone = backbone
        self.num_classes = int(num_classes)
        self.lr_rule = check_lr_rule(lr_rule)
        self.head = GAPHead(backbone.out_channels, self.num_classes)

    def forward(self, images: Tensor, labels: Tensor | None = None) -> MethodOutput:
        """Args: images: [B, 3, H, W]; labels: unused.

        Returns:
            logits [B, K] and class maps [B, K, H/stride, W/stride] of the same pass.
        """
        maps, logits = self.head(self.backbone(images), return_maps=True)
        return MethodOutput(logits=logits, class_maps=maps)

    def loss(self, output: MethodOutput, labels: Tensor) -> dict[str, Tensor]:
        """Cross-entropy of the logits: ``{"loss"}``."""
        return {"loss": F.cross_entropy(output.logits, labels)}

    def param_groups(self, lr: float, head_lr_mult: float) -> list[dict]:
        """Groups ``pretrained`` (lr) and ``new`` (lr * head_lr_mult) under ``self.lr_rule``."""
        roles = classify_params(self, self.lr_rule, self.head_we_names)
        return param_groups_from_roles(roles, lr, head_lr_mult)

    def describe_param_groups(self, lr: float, head_lr_mult: float) -> str:
        """The resolved groups as text: rule, lr, tensor/parameter counts, modules in each."""
        return describe_method_groups(self, self.lr_rule, self.head_we_names, lr, head_lr_mult)
