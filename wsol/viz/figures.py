"""Saving and showing the viz tools' outputs: uint8 image tensors and matplotlib figures.

The CNN-visualization tools return uint8 RGB grids [3, H, W] (exact pixels, for PNG files and
TensorBoard) or matplotlib :class:`~matplotlib.figure.Figure` objects built with the object
API (no pyplot state). :func:`save_png` writes either; :func:`image_figure` puts a grid into a
figure with a title, for notebooks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image
from torch import Tensor

DPI = 100


def to_numpy_image(image: Tensor) -> np.ndarray:
    """uint8 [3, H, W] (or [H, W]) tensor → uint8 [H, W, 3] (or [H, W]) array."""
    if image.dtype != torch.uint8:
        raise ValueError(f"expected a uint8 image, got {image.dtype}")
    array = image.detach().cpu().numpy()
    return np.ascontiguousarray(array.transpose(1, 2, 0) if array.ndim == 3 else array)


def save_png(image: Tensor | Figure, path: str | Path) -> Path:
    """Write a uint8 [3, H, W] image (pixel-exact) or a figure as a PNG; parents are created.

    Returns:
        The written path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(image, Figure):
        image.savefig(path, dpi=DPI)
    elif isinstance(image, Tensor):
        Image.fromarray(to_numpy_image(image)).save(path, optimize=True)
    else:
        raise TypeError(f"save_png takes a uint8 tensor or a Figure, got {type(image).__name__}")
    return path


def image_figure(image: Tensor, title: str | None = None, width: float = 6.0) -> Figure:
    """A figure showing a uint8 [3, H, W] grid at its aspect ratio, without axes."""
    height_px, width_px = image.shape[-2:]
    title_space = 0.4 if title else 0.0
    fig = Figure(figsize=(width, width * height_px / width_px + title_space), dpi=DPI)
    ax = fig.add_axes((0, 0, 1, 1 - title_space / fig.get_figheight()))
    ax.imshow(to_numpy_image(image), interpolation="nearest")
    ax.set_axis_off()
    if title:
        fig.suptitle(title, y=0.995, va="top")
    return fig
