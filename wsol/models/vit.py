"""A token backbone: torchvision's ViT-B/16, its patch tokens read as a feature map.

The transformer is torchvision's (same parameter names, so a torchvision ``vit_b_16`` state dict
loads once ``heads.*`` is dropped). Its forward pass is split into points of the backbone
contract: ``patch_embed`` (patch tokens + class token + position embedding) and ``block0`` ...
``block11`` are *token* points ([B, 1 + h*w, 768]); ``final`` (after the last block and the final
LayerNorm) is the map [B, 768, h, w] of the patch tokens, h = H / 16 (14x14 at 224 px). The
reshape hook (:meth:`ViTBackbone.tokens_to_map` / :meth:`ViTBackbone.map_to_tokens`) lets a method
read or change any token point as a map; the class token is kept aside and put back.
:meth:`ViTBackbone.forward_tokens` also gives the final class token and each block's attention
(``method=tscam``).

The position embedding is learned for a 14x14 grid; for other input sizes (the 96-px synthetic
images: 6x6) its grid part is resized bicubically on the fly, the class token's entry kept.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn

from wsol.models.base import Backbone
from wsol.models.features import FeatureInfo, Segment, TokenOutputs
from wsol.models.param_rules import NewParamRule
from wsol.models.registry import register_backbone


class _OwnerStep(nn.Module):
    """A parameter-free step of the owner's forward pass, as a module (a place for hooks)."""

    def __init__(self, owner: ViTBackbone, method: str) -> None:
        super().__init__()
        self._owner = [owner]  # not a sub-module: avoids a cycle in named_modules
        self._method = method

    def forward(self, x: Tensor) -> Tensor:
        return getattr(self._owner[0], self._method)(x)

    def extra_repr(self) -> str:
        return self._method


class ViTBackbone(Backbone):
    """torchvision VisionTransformer without its classification head, as a WSOL backbone.

    Learning-rate rules: clean, nothing in the backbone is new; WE (the benchmark has no ViT):
    the transformer is pretrained, everything outside it (the heads) new.

    Args:
        arch: a torchvision ViT builder name (``"vit_b_16"``).
        image_size: the input size the position embedding is learned for (224).
    """

    torchvision_weights_by_arch = {"vit_b_16": "ViT_B_16_Weights.IMAGENET1K_V1"}

    def __init__(self, arch: str = "vit_b_16", image_size: int = 224) -> None:
        super().__init__()
        if arch not in self.torchvision_weights_by_arch:
            raise ValueError(
                f"ViTBackbone arch must be one of {sorted(self.torchvision_weights_by_arch)}, "
                f"got {arch!r}"
            )
        net = getattr(torchvision.models, arch)(weights=None, image_size=image_size)
        self.conv_proj, self.class_token, self.encoder = net.conv_proj, net.class_token, net.encoder
        self.patch_size, self.image_size = net.patch_size, image_size
        self.out_channels = net.hidden_dim
        self.stride = net.patch_size
        #: images → tokens and final tokens → map, as modules whose outputs are the points.
        self.patch_embed = _OwnerStep(self, "embed")
        self.to_map = _OwnerStep(self, "final_map")
        self.torchvision_weights = self.torchvision_weights_by_arch[arch]
        self.new_param_rule = NewParamRule()
        self.we_new_param_rule = NewParamRule(
            pretrained_prefixes=("conv_proj.", "class_token", "encoder.")
        )
        self._grid: tuple[int, int] | None = None

    # ------------------------------------------------------------------ forward pieces
    def position_embedding(self, height: int, width: int) -> Tensor:
        """[1, 1 + height*width, C]: the learned embedding, its grid resized to height x width."""
        pos = self.encoder.pos_embedding
        side = self.image_size // self.patch_size
        if (height, width) == (side, side):
            return pos
        grid = pos[:, 1:].reshape(1, side, side, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(height, width), mode="bicubic", align_corners=False)
        return torch.cat([pos[:, :1], grid.flatten(2).transpose(1, 2)], dim=1)

    def embed(self, images: Tensor) -> Tensor:
        """[B, 3, H, W] → tokens [B, 1 + h*w, C] (class token first, position added)."""
        patches = self.conv_proj(images)
        batch, _, height, width = patches.shape
        self._grid = (height, width)
        tokens = patches.flatten(2).transpose(1, 2)
        tokens = torch.cat([self.class_token.expand(batch, -1, -1), tokens], dim=1)
        return self.encoder.dropout(tokens + self.position_embedding(height, width))

    def tokens_to_map(self, tokens: Tensor, info: FeatureInfo | None) -> Tensor:
        """Reshape hook: tokens [B, 1 + h*w, C] of the current input → [B, C, h, w]."""
        if self._grid is None:
            raise RuntimeError("ViTBackbone.tokens_to_map called before embed() set the grid")
        height, width = self._grid
        patches = tokens[:, 1:]
        return patches.transpose(1, 2).reshape(tokens.shape[0], -1, height, width)

    def final_map(self, tokens: Tensor) -> Tensor:
        """[B, C, h, w] map of the final tokens (what ``forward`` returns)."""
        return self.tokens_to_map(tokens, None)

    def map_to_tokens(self, features: Tensor, tokens: Tensor, info: FeatureInfo) -> Tensor:
        """Inverse hook: a [B, C, h, w] map back into tokens, the class token of ``tokens`` kept."""
        return torch.cat([tokens[:, :1], features.flatten(2).transpose(1, 2)], dim=1)

    def segments(self) -> list[Segment]:
        """``patch_embed`` and ``block0`` ... ``block<L-2>`` (token points; every block is a
        stage), then ``final``: the last block, the LayerNorm and the patch-token map."""
        blocks = list(self.encoder.layers.named_children())
        channels, stride = self.out_channels, self.stride
        segments = [
            Segment(
                ("patch_embed",),
                [self.patch_embed],
                channels,
                stride,
                "patch_embed",
                layout="tokens",
            )
        ]
        for index, (name, block) in enumerate(blocks[:-1]):
            segments.append(
                Segment(
                    (f"block{index}",),
                    [block],
                    channels,
                    stride,
                    f"encoder.layers.{name}",
                    stage_end=True,
                    layout="tokens",
                )
            )
        last_name, last = blocks[-1]
        segments.append(
            Segment(
                (f"block{len(blocks) - 1}", "ln"),
                [last, self.encoder.ln, self.to_map],
                channels,
                stride,
                "to_map",
                stage_end=True,
            )
        )
        return segments

    def forward_tokens(self, x: Tensor) -> TokenOutputs:
        """One pass returning the patch map, the final class token (after the final LayerNorm)
        and every block's attention, [B, heads, N, N] per block (TS-CAM's inputs).

        torchvision's blocks ask their ``nn.MultiheadAttention`` for no weights; for this pass
        only, a pre-hook asks for them per head (the softmax of q k^T / sqrt(d), the same
        weights the block's output uses) and a hook keeps them.
        """
        captured: list[Tensor] = []
        attentions = [block.self_attention for block in self.encoder.layers]

        def ask_for_weights(_module, args, kwargs):
            return args, {**kwargs, "need_weights": True, "average_attn_weights": False}

        hooks = [
            hook
            for module in attentions
            for hook in (
                module.register_forward_pre_hook(ask_for_weights, with_kwargs=True),
                module.register_forward_hook(lambda _m, _i, output: captured.append(output[1])),
            )
        ]
        try:
            tokens = x
            for segment in self.segments():
                for layer in segment.layers:
                    if layer is self.to_map:
                        class_token = tokens[:, 0]
                    tokens = layer(tokens)
        finally:
            for hook in hooks:
                hook.remove()
        if len(captured) != len(attentions):
            raise RuntimeError(
                f"ViTBackbone: captured {len(captured)} attention maps for {len(attentions)} blocks"
            )
        return TokenOutputs(
            features=tokens, class_token=class_token, attentions=tuple(captured), num_prefix=1
        )

    def adapt_state_dict(self, state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
        """Drop the classifier (``heads.*``) of a torchvision ViT state dict."""
        return {key: value for key, value in state_dict.items() if not key.startswith("heads.")}


@register_backbone("vit_b_16")
def vit_b_16(image_size: int = 224) -> ViTBackbone:
    """ViT-B/16 (torchvision): patch tokens as a 768-channel map, 14x14 at 224 px."""
    return ViTBackbone("vit_b_16", image_size=image_size)
