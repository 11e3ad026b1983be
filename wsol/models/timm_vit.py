"""``backbone=timm_vit``: timm's ViT / DeiT as token backbones (patch tokens → map, class token,
per-block attention).

The transformer is timm's ``VisionTransformer`` (``deit_small_patch16_224``,
``vit_base_patch16_224`` ...; any size through ``model_kwargs``: patch 8 on 96-px images)
built without its classifier and with ``dynamic_img_size`` (the position embedding is resampled
for other grids). Its forward pass is split into points of the backbone contract, following
timm's ``feature_info`` for ViTs (one feature per block, stride = patch size):

- ``patch_embed``: patch embedding + prefix tokens + position embedding (a token point);
- one stage per block, ``stage1`` ... (native names ``blocks.<i>``), token points read as maps
  through the reshape hook (:meth:`TimmViTBackbone.tokens_to_map`);
- ``final``: the last block and the final norm; ``backbone(x)`` is its patch-token map
  [B, C, H/patch, W/patch].

:meth:`TimmViTBackbone.forward_tokens` also returns the final class token and each block's
softmax attention (taken before attention dropout, as TS-CAM's official code does), for the
methods that need them. Weights follow :func:`wsol.models.timm_backbone.create_timm_model`
(local file, hub cache, download only when allowed).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import torch
from torch import Tensor

from wsol.models.base import Backbone
from wsol.models.features import FeatureInfo, Segment, TokenOutputs
from wsol.models.registry import register_backbone
from wsol.models.timm_backbone import (
    adopt_timm_body,
    create_timm_model,
    require_timm,
    timm_normalization,
)

#: timm modules whose models are ``VisionTransformer`` s with the standard blocks.
VIT_MODULES = ("vision_transformer", "deit")


class TimmViTBackbone(Backbone):
    """A timm VisionTransformer without its classifier, as a token backbone.

    Learning-rate rules: nothing in the backbone is new; under ``we`` (the benchmark has no ViT)
    the transformer is pretrained and every head new.

    Args:
        model_name: a timm ViT/DeiT name (``deit_small_patch16_224``, ``deit_tiny_patch16_224``).
        pretrained, weights_path, allow_download: see :mod:`wsol.models.timm_backbone`.
        model_kwargs: more ``timm.create_model`` arguments (``drop_path_rate``; with random
            weights the architecture: ``patch_size``, ``embed_dim``, ``depth``, ``num_heads``,
            ``img_size``).

    Raises:
        ValueError: for a timm model that is not a VisionTransformer with a class token and
            standard attention blocks.
    """

    def __init__(
        self,
        model_name: str,
        pretrained: bool = False,
        weights_path: str | os.PathLike | None = None,
        allow_download: bool = False,
        model_kwargs: Mapping | None = None,
    ):
        super().__init__()
        timm = require_timm()
        arch = timm.models.get_arch_name(str(model_name))
        if not timm.models.is_model_in_modules(arch, VIT_MODULES):
            raise ValueError(
                f"backbone.model_name={model_name!r}: timm_vit takes timm VisionTransformer "
                f"models (timm modules {', '.join(VIT_MODULES)}); CNNs: backbone=timm"
            )
        options = {"num_classes": 0, "dynamic_img_size": True, **dict(model_kwargs or {})}
        body = create_timm_model(model_name, pretrained, weights_path, allow_download, **options)
        problem = _unsupported(body)
        if problem:
            raise ValueError(f"backbone.model_name={model_name!r}: {problem}")
        adopt_timm_body(self, body, model_name)
        self.num_prefix = int(body.num_prefix_tokens)
        self.out_channels = int(body.embed_dim)
        self.timm_feature_info = tuple(dict(info) for info in body.feature_info)
        self.stride = int(self.timm_feature_info[-1]["reduction"])
        self._grid: tuple[int, int] | None = None

    # ------------------------------------------------------------------ forward pieces
    def embed(self, images: Tensor) -> Tensor:
        """[B, 3, H, W] → tokens [B, num_prefix + h*w, C] (timm's ``forward_features`` start)."""
        patches = self.body.patch_embed(images)  # [B, h, w, C] with dynamic_img_size
        self._grid = (int(patches.shape[1]), int(patches.shape[2]))
        tokens = self.body._pos_embed(patches)
        return self.body.norm_pre(self.body.patch_drop(tokens))

    def tokens_to_map(self, tokens: Tensor, info: FeatureInfo | None = None) -> Tensor:
        """Reshape hook: tokens [B, num_prefix + h*w, C] of the current input → [B, C, h, w]."""
        if self._grid is None:
            raise RuntimeError("TimmViTBackbone.tokens_to_map called before embed() set the grid")
        height, width = self._grid
        patches = tokens[:, self.num_prefix :]
        return patches.transpose(1, 2).reshape(tokens.shape[0], -1, height, width)

    def map_to_tokens(self, features: Tensor, tokens: Tensor, info: FeatureInfo) -> Tensor:
        """Inverse hook: a [B, C, h, w] map back into tokens, the prefix tokens of ``tokens``
        kept."""
        patches = features.flatten(2).transpose(1, 2)
        return torch.cat([tokens[:, : self.num_prefix], patches], dim=1)

    def segments(self) -> list[Segment]:
        """``patch_embed``, one token stage per block, the last one with the final norm."""
        channels, stride = self.out_channels, self.stride
        segments = [
            Segment(
                ("patch_embed",), [self.embed], channels, stride, "body.norm_pre", layout="tokens"
            )
        ]
        blocks = list(self.body.blocks)
        for index, block in enumerate(blocks):
            last = index == len(blocks) - 1
            segments.append(
                Segment(
                    (f"blocks.{index}",),
                    [block, self.body.norm] if last else [block],
                    channels,
                    stride,
                    "body.norm" if last else f"body.blocks.{index}",
                    stage_end=True,
                    layout="tokens",
                )
            )
        return segments

    def forward_tokens(self, x: Tensor) -> TokenOutputs:
        """One pass returning the patch map, the final class token and every block's attention.

        Attention is taken as timm's unfused path computes it (softmax(q k^T · scale), before
        attention dropout), [B, heads, N, N] per block; the fused kernel is switched off for
        this pass only.
        """
        captured: list[Tensor] = []
        attentions = [block.attn for block in self.body.blocks]
        fused = [module.fused_attn for module in attentions]
        hooks = [
            module.attn_drop.register_forward_hook(
                lambda _module, inputs, _output: captured.append(inputs[0])
            )
            for module in attentions
        ]
        try:
            for module in attentions:
                module.fused_attn = False
            tokens = x
            for segment in self.segments():
                for layer in segment.layers:
                    tokens = layer(tokens)
        finally:
            for module, flag in zip(attentions, fused, strict=True):
                module.fused_attn = flag
            for hook in hooks:
                hook.remove()
        if len(captured) != len(attentions):
            raise RuntimeError(
                f"{self.model_name}: captured {len(captured)} attention maps for "
                f"{len(attentions)} blocks"
            )
        return TokenOutputs(
            features=self.tokens_to_map(tokens),
            class_token=tokens[:, 0],
            attentions=tuple(captured),
            num_prefix=self.num_prefix,
        )

    def extra_repr(self) -> str:
        return f"model_name={self.model_name!r}, " + super().extra_repr()


def _unsupported(body) -> str | None:
    """Why ``body`` cannot serve as a token backbone, or None."""
    from timm.layers import Attention
    from timm.models.vision_transformer import VisionTransformer

    if not isinstance(body, VisionTransformer):
        return (
            f"timm_vit takes timm VisionTransformer models (ViT, DeiT); this is "
            f"{type(body).__name__} (CNNs: backbone=timm)"
        )
    if body.cls_token is None:
        return "the model has no class token (class_token=False), which token methods read"
    odd = {type(block.attn).__name__ for block in body.blocks if type(block.attn) is not Attention}
    if odd:
        return f"its blocks use {sorted(odd)}, not timm's standard Attention, whose maps are read"
    return None


@register_backbone("timm_vit", normalization=timm_normalization)
def timm_vit(
    model_name: str = "deit_small_patch16_224",
    pretrained: bool = False,
    weights_path: str | os.PathLike | None = None,
    allow_download: bool = False,
    model_kwargs: Mapping | None = None,
) -> TimmViTBackbone:
    """Build a :class:`TimmViTBackbone` (see its arguments)."""
    return TimmViTBackbone(
        model_name,
        pretrained=pretrained,
        weights_path=weights_path,
        allow_download=allow_download,
        model_kwargs=model_kwargs,
    )
