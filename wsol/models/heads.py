"""Classifier heads that give logits and class maps from one pass over the features.

Both heads follow the head contract: ``forward(features) -> logits [B, K]`` and
``class_maps(features) -> [B, K, h, w]``; methods call ``head(features, return_maps=True)`` to
get both at once, so the CAMs are the maps the logits came from.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from wsol.models.init import init_he, init_linear, init_xavier

HEAD_INITS = {"xavier": init_xavier, "he": init_he}


class MapHead(nn.Module):
    """Base of the heads: class maps first, logits from the maps (one pass for both)."""

    def class_maps(self, features: Tensor) -> Tensor:
        """Args: features: [B, C, h, w]. Returns: [B, K, h, w]."""
        raise NotImplementedError

    def logits_from_maps(self, maps: Tensor) -> Tensor:
        """[B, K] logits of [B, K, h, w] maps: their spatial mean."""
        return maps.mean(dim=(2, 3))

    def forward(
        self, features: Tensor, return_maps: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Args: features: [B, C, h, w].

        Returns:
            logits [B, K]; with ``return_maps``, the tuple (class maps [B, K, h, w], logits).
        """
        maps = self.class_maps(features)
        logits = self.logits_from_maps(maps)
        return (maps, logits) if return_maps else logits


class GAPHead(MapHead):
    """Global average pooling then a linear classifier (CAM).

    The class maps apply the linear weights at each position, ``M_y = Σ_k w[y, k] F_k`` (no bias,
    no ReLU), and the logits are their spatial mean plus the bias: the same numbers as
    ``Linear(GAP(F))``, computed once.

    Args:
        in_channels: C of the features.
        num_classes: K.
    """

    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        self.fc = nn.Linear(in_channels, num_classes)
        init_linear(self.fc)

    def logits_from_maps(self, maps: Tensor) -> Tensor:
        """[B, K]: the spatial mean of the maps plus the bias, i.e. ``Linear(GAP(F))``."""
        return maps.mean(dim=(2, 3)) + self.fc.bias

    def class_maps(self, features: Tensor) -> Tensor:
        """Args: features: [B, C, h, w]. Returns: [B, K, h, w] (unbounded, no bias)."""
        return torch.einsum("kc,bchw->bkhw", self.fc.weight, features)


class ClassMapHead(MapHead):
    """Conv3x3(C→width) → ReLU → Conv3x3(width→width) → ReLU → Conv1x1(width→K) (ACoL branch).

    Logits are the spatial mean of the class maps. Xavier-uniform weights, zero biases
    (``init="he"``: Kaiming-normal fan-out, as the benchmark initializes its ResNet ACoL heads).

    Args:
        in_channels: C of the features.
        num_classes: K.
        width: channels of the two 3x3 convs.
        dropout: dropout probability before each conv (0 disables it; the Inception CAM head
            of docs/methods.md uses 0.5).
        init: ``"xavier"`` or ``"he"``.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        width: int = 1024,
        dropout: float = 0.0,
        init: str = "xavier",
    ):
        super().__init__()
        if width < 1:
            raise ValueError(f"ClassMapHead width must be positive, got {width}")
        if init not in HEAD_INITS:
            raise ValueError(f"ClassMapHead init must be one of {sorted(HEAD_INITS)}, got {init!r}")
        layers: list[nn.Module] = []
        for conv in (
            nn.Conv2d(in_channels, width, kernel_size=3, padding=1),
            nn.Conv2d(width, width, kernel_size=3, padding=1),
            nn.Conv2d(width, num_classes, kernel_size=1),
        ):
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            layers += [conv, nn.ReLU(inplace=False)]
        self.layers = nn.Sequential(*layers[:-1])  # no ReLU after the class-map conv
        HEAD_INITS[init](self)

    def class_maps(self, features: Tensor) -> Tensor:
        """Args: features: [B, C, h, w]. Returns: [B, K, h, w] (unbounded)."""
        return self.layers(features)
