"""TS-CAM (Gao et al., ICCV 2021): token semantic coupled attention maps on a vision transformer.

Semantics, as the official code runs them (vasgaowei/TS-CAM, ``lib/models/deit.py`` ``TSCAM``):

- **Semantic-aware maps**: the last layer's patch tokens (after the final norm) as a map
  [B, C, h, w] → Conv3x3(C → K, padding 1) → [B, K, h, w]. The logits are their spatial mean and
  the loss is the cross-entropy of those logits; the class token's output feeds no classifier.
  The conv keeps PyTorch's default initialization (the official ``_init_weights`` touches only
  linear and norm layers).
- **Semantic-agnostic attention**: every block's softmax attention [B, heads, N, N] (before
  attention dropout), averaged over the heads and summed over the blocks; its class-token row
  to the patch tokens, [B, h, w].
- **Coupled map** of class k: attention × semantic map k (the semantic maps detached, as the
  official evaluation clones and detaches them). These are the class maps the evaluation scores
  (the protocol's upsampling and min-max follow in the one CAM pipeline).

The backbone must give its class token and attention (:meth:`wsol.models.base.Backbone.
forward_tokens`: ``backbone=timm_vit`` or ``backbone=vit_b_16``); another backbone is refused
when the method is built.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wsol.methods.base import WSOLMethod
from wsol.methods.outputs import ExtraMap, MethodOutput
from wsol.models.base import Backbone
from wsol.models.param_rules import check_lr_rule


def token_coupling_attention(
    attentions: Sequence[Tensor], num_prefix: int, grid: tuple[int, int]
) -> Tensor:
    """TS-CAM's semantic-agnostic attention map: class token → patches, over heads and blocks.

    Args:
        attentions: one [B, heads, N, N] softmax attention per block (rows: queries; the class
            token is token 0, the patch tokens the last h*w).
        num_prefix: tokens before the patch tokens.
        grid: (h, w) of the patch tokens.

    Returns:
        [B, h, w]: Σ_blocks mean_heads attention[:, :, 0, num_prefix:], reshaped to the grid.
    """
    if not attentions:
        raise ValueError("token_coupling_attention needs the attention of at least one block")
    stacked = torch.stack(list(attentions))  # [L, B, heads, N, N]
    from_class = stacked[:, :, :, 0, num_prefix:].mean(dim=2).sum(dim=0)  # [B, h*w]
    height, width = grid
    if from_class.shape[1] != height * width:
        raise ValueError(
            f"attention over {from_class.shape[1]} patch tokens does not fit a {height}x{width} "
            f"grid (num_prefix={num_prefix})"
        )
    return from_class.reshape(-1, height, width)


class TSCAMMethod(WSOLMethod):
    """TS-CAM: a conv head on the patch-token map, coupled with the class token's attention.

    Args:
        backbone: a token backbone that gives its class token and attention
            (``backbone.gives_tokens``: ``backbone=timm_vit`` or ``vit_b_16``).
        num_classes: K.
        kernel_size: of the semantic head's conv (the official code's 3, padding 1).
        lr_rule: ``"clean"`` or ``"we"``; on a ViT both make the head new and the transformer
            pretrained (the official code trains everything at one learning rate:
            ``module.head_lr_mult: 1``).

    Raises:
        ValueError: when the backbone gives no class token and attention.
    """

    extra_maps = {
        "semantic_maps": ExtraMap("semantic maps (before coupling)"),
        "token_attention": ExtraMap("class-token attention", per_class=False),
    }

    def __init__(
        self,
        backbone: Backbone,
        num_classes: int,
        kernel_size: int = 3,
        lr_rule: str = "clean",
    ):
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if not getattr(backbone, "gives_tokens", False):
            raise ValueError(
                f"method=tscam needs a token backbone that gives its class token and attention "
                f"(backbone=timm_vit or vit_b_16); backbone {type(backbone).__name__} gives none"
            )
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"method.kernel_size must be odd and positive, got {kernel_size}")
        self.backbone = backbone
        self.num_classes = int(num_classes)
        self.lr_rule = check_lr_rule(lr_rule)
        self.head = nn.Conv2d(
            backbone.out_channels, self.num_classes, kernel_size, padding=kernel_size // 2
        )

    def forward(self, images: Tensor, labels: Tensor | None = None) -> MethodOutput:
        """Args: images: [B, 3, H, W]; labels: unused.

        Returns:
            logits [B, K] (spatial mean of the semantic maps); class_maps [B, K, h, w], the
            coupled maps (detached); aux ``semantic_maps`` [B, K, h, w] and
            ``token_attention`` [B, h, w] (the coupling attention).
        """
        tokens = self.backbone.forward_tokens(images)
        semantic = self.head(tokens.features)
        logits = semantic.mean(dim=(2, 3))
        attention = token_coupling_attention(
            tokens.attentions, tokens.num_prefix, tuple(semantic.shape[-2:])
        ).detach()
        coupled = attention.unsqueeze(1) * semantic.detach()
        aux = {"semantic_maps": semantic, "token_attention": attention}
        return MethodOutput(logits=logits, class_maps=coupled, aux=aux)

    def loss(self, output: MethodOutput, labels: Tensor) -> dict[str, Tensor]:
        """Cross-entropy of the semantic maps' logits: ``{"loss"}``."""
        return {"loss": F.cross_entropy(output.logits, labels)}
