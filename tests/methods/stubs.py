"""Stand-ins that let the method tests hand-build features and class maps."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from wsol.models.base import Backbone
from wsol.models.param_rules import NewParamRule


class FeatureBackbone(Backbone):
    """Returns its learnable ``features`` [B, C, h, w] whatever the images (B must match)."""

    def __init__(self, features: Tensor):
        super().__init__()
        self.features = nn.Parameter(features.clone())
        self.out_channels = features.shape[1]
        self.stride = 1
        self.new_param_rule = NewParamRule()
        self.we_new_param_rule = NewParamRule(pretrained_prefixes=("features",))

    def forward(self, x: Tensor) -> Tensor:
        assert x.shape[0] == self.features.shape[0]
        return self.features * 1.0


class FixedMapHead(nn.Module):
    """A head whose class maps are fixed [B, K, h, w] tensors; logits = their spatial mean."""

    def __init__(self, maps: Tensor):
        super().__init__()
        self.register_buffer("maps", maps.clone())

    def forward(self, features: Tensor, return_maps: bool = False):
        maps = self.maps + 0.0 * features.sum()
        logits = maps.mean(dim=(2, 3))
        return (maps, logits) if return_maps else logits


def record_inputs(module: nn.Module) -> list[Tensor]:
    """Register a pre-hook storing each input ``features`` of ``module`` (detached copies)."""
    seen: list[Tensor] = []
    module.register_forward_pre_hook(lambda _, args: seen.append(args[0].detach().clone()))
    return seen


def minmax64(maps: Tensor) -> Tensor:
    """Independent reference: min-max over the last two dims in float64; constant → 0."""
    x = maps.double()
    low = x.amin(dim=(-2, -1), keepdim=True)
    span = x.amax(dim=(-2, -1), keepdim=True) - low
    return torch.where(span > 0, (x - low) / torch.where(span > 0, span, 1.0), 0.0)
