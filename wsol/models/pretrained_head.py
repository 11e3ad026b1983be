"""A CAM head that keeps a torchvision classifier's pretrained ``fc`` (ImageNet ResNet50 CAM).

The benchmark trains its ImageNet ResNet50 CAM from the full torchvision ResNet50 state dict,
``fc`` included (1000 ImageNet classes = the data set's classes), instead of a freshly
initialized linear layer. ``torchvision_fc_head`` is a head factory for ``method.head``
(``_partial_: true``): it builds a :class:`GAPHead` and copies ``fc.weight``/``fc.bias`` into it.
"""

from __future__ import annotations

import os

import torch

from wsol.models.heads import GAPHead
from wsol.models.weights import read_state_dict, torchvision_state_dict


def torchvision_fc_head(
    in_channels: int,
    num_classes: int,
    weights: str = "ResNet50_Weights.IMAGENET1K_V1",
    weights_path: str | os.PathLike | None = None,
    pretrained: bool = True,
) -> GAPHead:
    """A GAP + linear head whose linear layer is the pretrained classifier ``fc``.

    Args:
        in_channels: C of the features (2048 for ResNet50).
        num_classes: K; must equal the classifier's output count (1000 for ImageNet).
        weights: torchvision weights enum name, used when ``weights_path`` is None.
        weights_path: local torchvision-format state dict with ``fc.weight``/``fc.bias``
            (loaded with ``weights_only=True``); wins over ``weights``.
        pretrained: False gives a freshly initialized :class:`GAPHead` (no weights read), so
            a config with ``backbone.pretrained=false`` stays consistent.

    Raises:
        ValueError: naming the source when ``fc`` is missing or its shape is not [K, C].
    """
    head = GAPHead(in_channels, num_classes)
    if not pretrained and weights_path is None:
        return head
    if weights_path is not None:
        state, source = read_state_dict(weights_path), f"weights_path={str(weights_path)!r}"
    else:
        state, source = torchvision_state_dict(weights), weights
    if state and all(key.startswith("module.") for key in state):
        state = {key[len("module.") :]: value for key, value in state.items()}
    missing = [key for key in ("fc.weight", "fc.bias") if key not in state]
    if missing:
        raise ValueError(f"{source}: no pretrained classifier to keep: missing keys {missing}")
    weight, bias = state["fc.weight"], state["fc.bias"]
    if tuple(weight.shape) != (num_classes, in_channels) or tuple(bias.shape) != (num_classes,):
        raise ValueError(
            f"{source}: fc.weight {tuple(weight.shape)} / fc.bias {tuple(bias.shape)} do not fit "
            f"a head of {in_channels} channels and {num_classes} classes"
        )
    with torch.no_grad():
        head.fc.weight.copy_(weight)
        head.fc.bias.copy_(bias)
    return head
