"""The one output type every method's forward pass returns, and how a method declares a map."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor


@dataclass
class MethodOutput:
    """Logits and class maps from the same forward pass.

    Attributes:
        logits: [B, K] classification logits (for ACoL: branch A).
        class_maps: [B, K, h, w] maps used for localization, one per class (for ACoL: the fused
            map); or [B, 1, h, w], one per image, for a method whose class attribute
            ``class_maps_per_image`` is True (post-hoc explainers: the map of the class the
            forward pass was asked for). `WSOLMethod.check_output` checks the shapes.
        aux: method-specific tensors, e.g. ACoL's ``logits_b``, ``maps_a``, ``maps_b``; generic
            code reads them only through the method (``extra_scalars``, ``extra_maps``).
    """

    logits: Tensor
    class_maps: Tensor
    aux: dict[str, Tensor] = field(default_factory=dict)


@dataclass(frozen=True)
class ExtraMap:
    """A map a method declares in ``WSOLMethod.extra_maps`` (``output.aux`` key → this).

    Attributes:
        caption: its title in the heatmap panel and name in the analyses.
        per_class: True: ``aux[key]`` is [B, K, h, w], one map per class (the GT or predicted
            class's is shown and scored); False: one map per image, [B, 1, h, w] or [B, h, w].
    """

    caption: str
    per_class: bool = True
