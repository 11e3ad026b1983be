"""Pretrained weights: torchvision ImageNet weights by name, or a local torchvision-format file.

Offline machines cannot download; they pass ``weights_path`` (a file such as
``vgg16-397923af.pth``) or put that file into torchvision's cache directory
(``$TORCH_HOME/hub/checkpoints``), where ``pretrained=True`` finds it without a download.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor

from wsol.models.base import Backbone


def _download_state_dict(weights_name: str) -> dict[str, Tensor]:
    """Fetch torchvision weights (from the cache when present). Tests replace this function."""
    from torchvision.models import get_weight

    return get_weight(weights_name).get_state_dict(
        progress=True, map_location="cpu", weights_only=True
    )


def torchvision_state_dict(weights_name: str) -> dict[str, Tensor]:
    """State dict of torchvision weights by enum name (``"ResNet50_Weights.IMAGENET1K_V1"``).

    Raises:
        RuntimeError: when the weights can be neither found in the cache nor downloaded; the
            message names the file and the two ways to supply it offline.
    """
    from torchvision.models import get_weight

    try:
        url = get_weight(weights_name).url
    except (ValueError, KeyError) as error:
        raise ValueError(f"unknown torchvision weights {weights_name!r}: {error}") from error
    try:
        return _download_state_dict(weights_name)
    except Exception as error:  # noqa: BLE001 - any failure becomes the same actionable message
        file_name = url.rsplit("/", 1)[-1]
        cache = Path(torch.hub.get_dir()) / "checkpoints"
        raise RuntimeError(
            f"could not load torchvision weights {weights_name} ({url}): "
            f"{type(error).__name__}: {error}. Without internet, either pass "
            f"weights_path=/path/to/{file_name} (backbone.weights_path in the config), or copy "
            f"{file_name} into torchvision's cache {cache} (set TORCH_HOME to move it)."
        ) from error


def read_state_dict(weights_path: str | os.PathLike) -> dict[str, Tensor]:
    """Load a local state dict with ``weights_only=True``.

    A checkpoint dict wrapping the weights under ``"state_dict"`` or ``"model"`` is unwrapped.

    Raises:
        FileNotFoundError: naming the path when it does not exist.
    """
    path = Path(weights_path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"weights_path={str(weights_path)!r}: no such file")
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict, found {type(state).__name__}")
    return state


def load_backbone_weights(
    backbone: Backbone, state_dict: dict[str, Tensor], source: str
) -> Backbone:
    """Load a torchvision-format state dict into a WSOL backbone, strictly.

    ``backbone.adapt_state_dict`` first drops the classifier keys and re-indexes renamed layers.
    The only keys allowed to stay missing are those of the backbone's new (not pretrained)
    layers, as given by ``backbone.new_param_rule``.

    Raises:
        ValueError: listing unexpected or missing keys and shape mismatches, naming ``source``.
    """
    adapted = backbone.adapt_state_dict(state_dict)
    own = backbone.state_dict()
    mismatched = [
        f"{key}: file {tuple(value.shape)} vs model {tuple(own[key].shape)}"
        for key, value in adapted.items()
        if key in own and tuple(value.shape) != tuple(own[key].shape)
    ]
    unexpected = sorted(key for key in adapted if key not in own)
    missing = sorted(
        key for key in own if key not in adapted and not backbone.new_param_rule.is_new(key)
    )
    problems = []
    if unexpected:
        problems.append(f"unexpected keys {unexpected}")
    if missing:
        problems.append(f"missing keys {missing}")
    if mismatched:
        problems.append(f"shape mismatches {mismatched}")
    if problems:
        raise ValueError(
            f"{source}: does not fit backbone {type(backbone).__name__}: " + "; ".join(problems)
        )
    backbone.load_state_dict(adapted, strict=False)
    return backbone


def load_pretrained(
    backbone: Backbone, pretrained: bool, weights_path: str | os.PathLike | None
) -> Backbone:
    """Apply the weights options of ``build_backbone``: a local file wins over ``pretrained``."""
    if weights_path is not None:
        return load_backbone_weights(
            backbone, read_state_dict(weights_path), f"weights_path={str(weights_path)!r}"
        )
    if pretrained:
        if backbone.torchvision_weights is None:
            raise ValueError(
                f"{type(backbone).__name__} has no torchvision weights: pretrained=True needs "
                "weights_path=... pointing at a state dict of this backbone"
            )
        name = backbone.torchvision_weights
        return load_backbone_weights(backbone, torchvision_state_dict(name), name)
    return backbone
