"""Perceptual colormaps as 256-entry lookup tables, and score maps coloured through them.

The tables are sampled from matplotlib's colormaps (``inferno``, ``viridis``, ``magma``,
``plasma``, ``cividis``, ``turbo`` ...), so a heatmap looks the same in TensorBoard, in
``wsol-predict``'s overlays and in matplotlib figures. A score ``s`` in [0, 1] takes the
entry ``floor(255 * s)``: the same quantization as the protocol's box extraction, so the
colour boundary of a box's threshold is where the box's contour is.
"""

from __future__ import annotations

from functools import lru_cache

import matplotlib
import numpy as np
import torch
from torch import Tensor


@lru_cache(maxsize=16)
def _lut_array(name: str) -> np.ndarray:
    try:
        cmap = matplotlib.colormaps[name]
    except KeyError as error:
        known = ", ".join(sorted(n for n in matplotlib.colormaps if not n.endswith("_r"))[:40])
        raise ValueError(
            f"colormap: unknown matplotlib colormap {name!r} (e.g. {known})"
        ) from error
    rgba = cmap(np.linspace(0.0, 1.0, 256))
    return np.round(rgba[:, :3] * 255).astype(np.uint8)


def colormap_lut(name: str = "inferno") -> Tensor:
    """The lookup table of a matplotlib colormap.

    Args:
        name: a matplotlib colormap name (``"inferno"``, ``"viridis"`` ...).

    Returns:
        uint8 [256, 3]: RGB of the scores 0/255, 1/255, ..., 255/255.

    Raises:
        ValueError: unknown colormap (the message lists known names).
    """
    return torch.from_numpy(_lut_array(str(name)).copy())


def apply_colormap(scoremap: Tensor, lut: Tensor) -> Tensor:
    """Colour a score map through a lookup table.

    Args:
        scoremap: [H, W] float scores in [0, 1] (values outside are clipped; NaN counts as 0).
        lut: uint8 [256, 3] from :func:`colormap_lut`.

    Returns:
        uint8 [3, H, W] RGB heatmap.
    """
    if scoremap.ndim != 2:
        raise ValueError(f"scoremap must be [H, W], got shape {tuple(scoremap.shape)}")
    scores = torch.nan_to_num(scoremap.detach().float().cpu(), nan=0.0).clamp(0.0, 1.0)
    index = (scores * 255).to(torch.long)
    return lut[index].permute(2, 0, 1).contiguous()
