"""CAM (Zhou et al., CVPR 2016): backbone → head (GAP + linear); CAM_y = Σ_k w[y,k] F_k."""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor, nn

from wsol.methods.base import WSOLMethod
from wsol.methods.outputs import MethodOutput
from wsol.models.base import Backbone
from wsol.models.heads import GAPHead
from wsol.models.param_rules import check_lr_rule

#: A head factory: ``head(in_channels, num_classes) -> module`` following the head contract.
HeadFactory = Callable[[int, int], nn.Module]


class CAMMethod(WSOLMethod):
    """Class activation mapping: one head on the backbone features, trained with cross-entropy.

    Args:
        backbone: feature extractor (``out_channels``, ``stride``, learning-rate rules).
        num_classes: K.
        head: head factory called as ``head(backbone.out_channels, num_classes)`` (a Hydra
            ``_partial_`` node); None: :class:`GAPHead` (GAP + linear, the CAM paper's head).
            Any head whose forward returns ``(class maps, logits)`` with ``return_maps=True``.
        lr_rule: which parameters train at ``lr * head_lr_mult``: ``"clean"`` (the head and the
            backbone layers without pretrained weights, e.g. VGG's conv6) or ``"we"`` (the
            wsolevaluation name patterns: VGG everything outside ``features.``, ResNet
            ``layer4.`` and the head).
    """

    head_we_names = {"head": "fc"}

    def __init__(
        self,
        backbone: Backbone,
        num_classes: int,
        head: HeadFactory | None = None,
        lr_rule: str = "clean",
    ):
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.backbone = backbone
        self.num_classes = int(num_classes)
        self.lr_rule = check_lr_rule(lr_rule)
        self.head = (head or GAPHead)(backbone.out_channels, self.num_classes)

    def features(self, images: Tensor) -> Tensor:
        """[B, C, h, w] features the head reads (methods that act inside the backbone override)."""
        return self.backbone(images)

    def forward(self, images: Tensor, labels: Tensor | None = None) -> MethodOutput:
        """Args: images: [B, 3, H, W]; labels: unused.

        Returns:
            logits [B, K] and class maps [B, K, H/stride, W/stride] of the same pass.
        """
        maps, logits = self.head(self.features(images), return_maps=True)
        return MethodOutput(logits=logits, class_maps=maps)

    def loss(self, output: MethodOutput, labels: Tensor) -> dict[str, Tensor]:
        """Cross-entropy of the logits: ``{"loss"}``."""
        return {"loss": F.cross_entropy(output.logits, labels)}
