"""First-layer filters as an image grid: what the first convolution looks for in RGB.

The first convolution's weights [C_out, 3, k, k] are images themselves. For display each
filter is scaled into [0, 1]: ``"filter"`` min-max normalizes each filter on its own (every
filter's pattern is visible), ``"global"`` maps the largest absolute weight of the layer to
0 or 1 around a grey zero (filters stay comparable; weak filters look grey).
"""

from __future__ import annotations

import math

import torch
from matplotlib.figure import Figure
from torch import Tensor, nn
from torchvision.utils import make_grid

from wsol.cams.normalize import minmax_normalize
from wsol.viz.figures import image_figure
from wsol.viz.panel import enlarge

NORMALIZATIONS = ("filter", "global")


def first_conv(model: nn.Module) -> tuple[str, nn.Conv2d]:
    """The first ``Conv2d`` of the model in registration order, with its name.

    Raises:
        ValueError: the model has no Conv2d.
    """
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return name, module
    raise ValueError(f"{type(model).__name__} has no Conv2d layer")


def normalize_filters(weight: Tensor, mode: str = "filter") -> Tensor:
    """Scale filter weights into [0, 1] for display.

    Args:
        weight: [C_out, C_in, k_h, k_w] convolution weights.
        mode: ``"filter"`` (per-filter min-max, `wsol.cams.normalize.minmax_normalize`; a
            constant filter becomes 0.5) or ``"global"``
            (``0.5 + w / (2 max|w|)`` over the whole layer; zero stays mid-grey).

    Returns:
        float32 [C_out, C_in, k_h, k_w] in [0, 1].
    """
    if weight.ndim != 4:
        raise ValueError(f"filters must be [C_out, C_in, kh, kw], got {tuple(weight.shape)}")
    if mode not in NORMALIZATIONS:
        raise ValueError(f"mode must be one of {NORMALIZATIONS}, got {mode!r}")
    w = weight.detach().float().cpu()
    if mode == "global":
        peak = w.abs().max()
        return (0.5 + w / (2 * peak)) if peak > 0 else torch.full_like(w, 0.5)
    # The package's one min-max rule, over each whole filter; a filter it cannot scale
    # (constant) is shown mid-grey rather than black.
    scaled, invalid = minmax_normalize(w.flatten(1)[:, None])
    scaled = torch.where(invalid[:, None, None], torch.full_like(scaled, 0.5), scaled)
    return scaled.view_as(w)


def filter_grid(
    weight: Tensor, mode: str = "filter", scale: int = 8, nrow: int | None = None
) -> Tensor:
    """The filters of one convolution as an RGB grid.

    Args:
        weight: [C_out, 3, k, k] (RGB input) or [C_out, 1, k, k] (shown in grey).
        mode: normalization, see :func:`normalize_filters`.
        scale: integer nearest-neighbour enlargement of each filter.
        nrow: filters per row (default: about the square root of C_out).

    Returns:
        uint8 [3, H, W] grid (white separators).
    """
    if weight.ndim != 4 or weight.shape[1] not in (1, 3):
        raise ValueError(
            "filter_grid shows filters over RGB or grey inputs ([C_out, 3 or 1, k, k]); "
            f"got {tuple(weight.shape)} (pick the first convolution, see first_conv)"
        )
    filters = normalize_filters(weight, mode).expand(-1, 3, -1, -1)
    tiles = (filters * 255).round().to(torch.uint8)
    tiles = torch.stack([enlarge(tile, max(1, int(scale))) for tile in tiles])
    nrow = nrow or math.ceil(math.sqrt(len(tiles)))
    return make_grid(tiles, nrow=nrow, padding=2, pad_value=255)


def filter_figure(model: nn.Module, mode: str = "filter", scale: int = 8) -> Figure:
    """A figure of the model's first-convolution filters, titled with the layer's name."""
    name, conv = first_conv(model)
    grid = filter_grid(conv.weight, mode, scale)
    kh, kw = conv.kernel_size
    return image_figure(grid, f"{name}: {conv.out_channels} filters {kh}x{kw} ({mode} scaling)")
