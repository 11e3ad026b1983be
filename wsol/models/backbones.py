"""``build_backbone(name, ...)``: the project's one name → builder registry.

Hydra builds a backbone with ``_target_: wsol.models.build_backbone`` and a ``name``; every other
component is instantiated from its class path.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from wsol.models.base import Backbone
from wsol.models.inception import inception_v3
from wsol.models.resnet import resnet18, resnet50
from wsol.models.tiny import tiny
from wsol.models.vgg import vgg16, vgg16_acol
from wsol.models.weights import load_pretrained

BACKBONES: dict[str, Callable[..., Backbone]] = {
    "tiny": tiny,
    "resnet18": resnet18,
    "resnet50": resnet50,
    "vgg16": vgg16,
    "vgg16_acol": vgg16_acol,
    "inception_v3": inception_v3,
}


def build_backbone(
    name: str,
    pretrained: bool = False,
    weights_path: str | os.PathLike | None = None,
    large_feature_map: bool = False,
    **kwargs,
) -> Backbone:
    """Build a WSOL backbone and load its weights.

    Args:
        name: one of ``BACKBONES`` (tiny, resnet18, resnet50, vgg16, vgg16_acol, inception_v3).
        pretrained: load torchvision's ImageNet weights (from torchvision's cache, else a
            download; offline the error says how to supply the file).
        weights_path: local torchvision-format state dict, loaded with ``weights_only=True``;
            takes precedence over ``pretrained``.
        large_feature_map: the 28x28 variant (tiny: stride 4).
        **kwargs: builder-specific options (tiny: ``widths``; vgg16_acol: ``smoothing``).

    Returns:
        A backbone: ``forward(x) -> [B, out_channels, H/stride, W/stride]``.

    Raises:
        ValueError: for an unknown name (listing the known ones) or weights that do not fit.
    """
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone name {name!r}; known: {', '.join(BACKBONES)}")
    try:
        backbone = BACKBONES[name](large_feature_map=large_feature_map, **kwargs)
    except TypeError as error:
        raise TypeError(f"backbone {name!r}: bad options {sorted(kwargs)}: {error}") from error
    return load_pretrained(backbone, pretrained=pretrained, weights_path=weights_path)
