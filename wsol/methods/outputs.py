"""The one output type every method's forward pass returns."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor


@dataclass
class MethodOutput:
    """Logits and class maps from the same forward pass.

    Attributes:
        logits: [B, K] classification logits (for ACoL: branch A).
        class_maps: [B, K, h, w] maps used for localization (for ACoL: the fused map).
        aux: method-specific tensors, e.g. ACoL's ``logits_b``, ``maps_a``, ``maps_b``; generic
            code reads them only through the method (``extra_scalars``, ``extra_maps``).
    """

    logits: Tensor
    class_maps: Tensor
    aux: dict[str, Tensor] = field(default_factory=dict)
