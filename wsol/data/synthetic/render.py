"""Vectorized numpy drawing primitives of the synthetic benchmark (float RGB canvases, 0-255).

Shapes are decided at pixel centres, without anti-aliasing, so a drawn shape's pixels are
exactly its mask (the GT mask and box then describe the drawn object to the pixel).
"""

from __future__ import annotations

import colorsys
from functools import lru_cache

import cv2
import numpy as np

ELLIPSE, RECTANGLE, ROUNDED = 0, 1, 2
SHAPES = (ELLIPSE, RECTANGLE, ROUNDED)


@lru_cache(maxsize=4096)
def shape_mask(kind: int, width: int, height: int) -> np.ndarray:
    """Pixels of a shape filling a width x height window.

    Returns:
        bool [height, width] (read-only, cached).
    """
    x = (np.arange(width) + 0.5)[None, :]
    y = (np.arange(height) + 0.5)[:, None]
    if kind == ELLIPSE:
        mask = ((2 * x / width - 1) ** 2 + (2 * y / height - 1) ** 2) <= 1.0
    elif kind == RECTANGLE:
        mask = np.ones((height, width), dtype=bool)
    elif kind == ROUNDED:
        radius = 0.35 * min(width, height)
        dx = np.maximum(np.abs(x - width / 2) - (width / 2 - radius), 0)
        dy = np.maximum(np.abs(y - height / 2) - (height / 2 - radius), 0)
        mask = dx**2 + dy**2 <= radius**2
    else:
        raise ValueError(f"unknown shape kind {kind}")
    mask = np.broadcast_to(mask, (height, width)).copy()
    mask.flags.writeable = False
    return mask


def square_positions(mask: np.ndarray, side: int) -> np.ndarray:
    """Top-left corners (y, x) where a side x side square lies entirely inside ``mask``.

    Returns:
        int array [P, 2].
    """
    height, width = mask.shape
    if side > height or side > width:
        return np.zeros((0, 2), dtype=np.int64)
    table = np.zeros((height + 1, width + 1), dtype=np.int32)
    table[1:, 1:] = mask.cumsum(0).cumsum(1)
    inside = (
        table[side:, side:] - table[:-side, side:] - table[side:, :-side] + table[:-side, :-side]
    ) == side * side
    return np.argwhere(inside)


def hsv_rgb(hue_deg: float, saturation: float, value: float) -> np.ndarray:
    """RGB colour (float32 [3], 0-255) of an HSV colour with hue in degrees."""
    rgb = colorsys.hsv_to_rgb((hue_deg % 360.0) / 360.0, saturation, value)
    return np.array(rgb, dtype=np.float32) * np.float32(255)


def smooth_field(rng: np.random.Generator, grid: int, size: int) -> np.ndarray:
    """Low-frequency noise in [0, 1]: a grid x grid random image upsampled bicubically.

    Returns:
        float32 [size, size].
    """
    coarse = rng.random((grid, grid), dtype=np.float32)
    return np.clip(cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC), 0, 1)


def stripes(
    y0: int,
    x0: int,
    height: int,
    width: int,
    angle_deg: float,
    period: float,
    phase: float,
    depth: float,
) -> np.ndarray:
    """Brightness factor of a sinusoidal grating over a window, in [1 - depth, 1].

    ``angle_deg`` is the direction of the grating's normal in image coordinates (x right,
    y down), so a horizontal flip turns angle a into -a.

    Returns:
        float32 [height, width].
    """
    angle = np.deg2rad(angle_deg)
    yy = np.arange(y0, y0 + height, dtype=np.float32)[:, None]
    xx = np.arange(x0, x0 + width, dtype=np.float32)[None, :]
    u = xx * np.float32(np.cos(angle)) + yy * np.float32(np.sin(angle))
    wave = 0.5 + 0.5 * np.sin(u * np.float32(2 * np.pi / period) + np.float32(phase))
    return (1.0 - depth * wave).astype(np.float32)


def paint(canvas: np.ndarray, y0: int, x0: int, mask: np.ndarray, colour: np.ndarray) -> None:
    """Paint ``colour`` ([3] or [h, w, 3]) into ``canvas`` [H, W, 3] where ``mask`` [h, w] holds."""
    height, width = mask.shape
    window = canvas[y0 : y0 + height, x0 : x0 + width]
    if colour.ndim == 1:
        window[mask] = colour
    else:
        np.copyto(window, colour, where=mask[..., None])


def pattern_patch(pattern: np.ndarray, side: int, on: float, off: float) -> np.ndarray:
    """A side x side grey square showing a 3x3 binary pattern (cell of pixel i: i * 3 // side).

    Returns:
        float32 [side, side, 3].
    """
    cells = (np.arange(side) * 3) // side
    grid = pattern[cells[:, None], cells[None, :]]
    grey = np.where(grid, np.float32(on), np.float32(off)).astype(np.float32)
    return np.repeat(grey[..., None], 3, axis=2)
