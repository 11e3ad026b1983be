"""Activation maps of chosen layers and channels, captured with the package's hook manager.

:func:`layer_activations` runs the model once and returns the outputs of the named modules
(hooks through :class:`wsol.cams.hooks.LayerHooks`, removed afterwards, also on errors).
:func:`activation_grid` shows channels of one image as heatmaps, each min-max scaled on its
own (the channel's pattern, not its magnitude; the caption gives the maximum).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import Tensor, nn
from torchvision.utils import make_grid

from wsol.cams.hooks import LayerHooks
from wsol.cams.normalize import minmax_normalize
from wsol.viz.colormap import apply_colormap, colormap_lut
from wsol.viz.figures import image_figure
from wsol.viz.overlay import NEUTRAL_COLOR, add_caption, heatmap_overlay


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Run ``model`` in eval mode (BatchNorm statistics, no dropout); restore every module's
    training flag on exit. For the no-grad forward passes of the viz tools."""
    flags = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in flags:
            module.training = training


@torch.no_grad()
def layer_activations(
    model: nn.Module, images: Tensor, layers: str | Sequence[str]
) -> dict[str, Tensor]:
    """The outputs of named modules for a batch of images.

    Args:
        model: the network; called as ``model(images)`` in eval mode (its mode is restored).
        images: [B, 3, H, W] normalized images.
        layers: module names as in ``model.named_modules()``; each must run once per forward.

    Returns:
        name → detached output, [B, C, h, w] for convolutional layers.
    """
    with evaluating(model), LayerHooks(model, layers) as hooks:
        model(images)
        return dict(hooks.outputs)


def top_channels(activations: Tensor, k: int) -> Tensor:
    """The ``k`` channels with the largest mean activation of one image's [C, h, w] map."""
    if activations.ndim != 3:
        raise ValueError(f"expected [C, h, w], got {tuple(activations.shape)}")
    return activations.flatten(1).mean(dim=1).topk(min(k, len(activations))).indices


def channel_maps(activations: Tensor, channels: Sequence[int] | Tensor) -> Tensor:
    """Channels of one image's activations, each min-max scaled into [0, 1].

    Args:
        activations: [C, h, w].
        channels: channel indices.

    Returns:
        float32 [N, h, w] in [0, 1] (`wsol.cams.normalize.minmax_normalize`, the rule of the
        score maps); a constant channel (e.g. dead after ReLU) is all zeros.
    """
    if activations.ndim != 3:
        raise ValueError(f"expected [C, h, w], got {tuple(activations.shape)}")
    index = torch.as_tensor(channels, dtype=torch.long).reshape(-1)
    if len(index) and (index.min() < 0 or index.max() >= len(activations)):
        raise IndexError(f"channels {index.tolist()} outside 0..{len(activations) - 1}")
    picked = activations[index].detach().float().cpu()
    scaled, _ = minmax_normalize(picked)  # the package's one min-max rule
    return scaled


def activation_grid(
    activations: Tensor,
    channels: Sequence[int] | Tensor,
    image: Tensor | None = None,
    size: int = 96,
    colormap: str = "inferno",
    alpha: float = 0.6,
    nrow: int | None = None,
) -> Tensor:
    """Heatmaps of chosen channels of one image, as a captioned grid.

    Args:
        activations: [C, h, w] one image's layer output.
        channels: channel indices to show, in this order.
        image: uint8 [3, H, W] to blend the (bilinearly upsampled) maps over, or None.
        size: tile side in pixels when no image is given (nearest-neighbour upsampling, so
            every unit stays a visible block).
        colormap: matplotlib colormap name.
        alpha: heatmap weight over the image.
        nrow: tiles per row (default: about the square root of the count).

    Returns:
        uint8 [3, H', W'].
    """
    maps = channel_maps(activations, channels)
    lut = colormap_lut(colormap)
    index = torch.as_tensor(channels, dtype=torch.long).reshape(-1)
    peaks = activations[index].detach().flatten(1).amax(dim=1)
    tiles = []
    for channel, scoremap, peak in zip(index.tolist(), maps, peaks.tolist(), strict=True):
        if image is not None:
            up = F.interpolate(scoremap[None, None], size=image.shape[-2:], mode="bilinear")
            tile = heatmap_overlay(image, up[0, 0].clamp(0, 1), lut, alpha)
        else:
            up = F.interpolate(scoremap[None, None], size=(size, size), mode="nearest")
            tile = apply_colormap(up[0, 0], lut)
        tiles.append(add_caption(tile, [f"ch {channel} max {peak:.2g}"], NEUTRAL_COLOR))
    nrow = nrow or math.ceil(math.sqrt(len(tiles)))
    return make_grid(torch.stack(tiles), nrow=nrow, padding=2, pad_value=255)


def activation_figure(
    activations: Tensor,
    channels: Sequence[int] | Tensor,
    image: Tensor | None = None,
    title: str = "activations",
) -> Figure:
    """:func:`activation_grid` in a titled figure."""
    return image_figure(activation_grid(activations, channels, image), title)
