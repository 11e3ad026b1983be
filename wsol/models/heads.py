"""Classifier heads that give logits and class maps from one pass over the features.

Both heads follow the head contract: ``forward(features) -> logits [B, K]`` and
``class_maps(features) -> [B, K, h, w]``; methods call ``head(features, return_maps=True)`` to
get both at once, so the CAMs are the maps the logits came from.

A head may name positions inside it (``head.positions``; :class:`ClassMapHead`: ``conv1``,
``conv2``, after each 3x3 conv's ReLU), where a method inserts layers with
``head(features, return_maps=True, after={"conv2": layer})``, as the benchmark's InceptionV3 ADL
does after its head's second conv. Methods name them ``head.<position>``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from wsol.models.init import init_he, init_linear, init_xavier

HEAD_INITS = {"xavier": init_xavier, "he": init_he}


Layer = Callable[[Tensor], Tensor]


class MapHead(nn.Module):
    """Base of the heads: class maps first, logits from the maps (one pass for both).

    Attributes:
        positions: names of the points inside the head where layers can be inserted.
    """

    positions: tuple[str, ...] = ()

    def class_maps(self, features: Tensor, after: Mapping[str, Layer] | None = None) -> Tensor:
        """Args: features: [B, C, h, w]; after: position → layer. Returns: [B, K, h, w]."""
        raise NotImplementedError

    def logits_from_maps(self, maps: Tensor) -> Tensor:
        """[B, K] logits of [B, K, h, w] maps: their spatial mean."""
        return maps.mean(dim=(2, 3))

    def check_positions(self, names) -> None:
        """Raise a ValueError naming the head's positions when ``names`` has another one."""
        unknown = sorted(set(names) - set(self.positions))
        if unknown:
            raise ValueError(
                f"{type(self).__name__} has no position {unknown}; its positions: "
                f"{', '.join(self.positions) or 'none'}"
            )

    def forward(
        self,
        features: Tensor,
        return_maps: bool = False,
        after: Mapping[str, Layer] | None = None,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Args: features: [B, C, h, w]; after: head position → a layer applied there.

        Returns:
            logits [B, K]; with ``return_maps``, the tuple (class maps [B, K, h, w], logits).
        """
        maps = self.class_maps(features, after) if after else self.class_maps(features)
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

    def class_maps(self, features: Tensor, after: Mapping[str, Layer] | None = None) -> Tensor:
        """Args: features: [B, C, h, w]. Returns: [B, K, h, w] (unbounded, no bias)."""
        self.check_positions(after or {})
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

    positions = ("conv1", "conv2")

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
        relus = [i for i, m in enumerate(self.layers) if isinstance(m, nn.ReLU)]
        #: position → index in ``layers`` of the ReLU it follows.
        self._position_index = dict(zip(self.positions, relus, strict=True))
        HEAD_INITS[init](self)

    def class_maps(self, features: Tensor, after: Mapping[str, Layer] | None = None) -> Tensor:
        """Args: features: [B, C, h, w]; after: ``conv1``/``conv2`` → a layer applied after
        that conv's ReLU. Returns: [B, K, h, w] (unbounded)."""
        if not after:
            return self.layers(features)
        self.check_positions(after)
        inserted = {self._position_index[name]: layer for name, layer in after.items()}
        x = features
        for index, module in enumerate(self.layers):
            x = module(x)
            if index in inserted:
                x = inserted[index](x)
        return x
