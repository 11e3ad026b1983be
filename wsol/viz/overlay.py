"""Pure drawing functions: heatmaps blended over images, boxes, caption strips.

Everything takes and returns uint8 RGB tensors [3, H, W] and never changes its inputs. Boxes
are drawn with :func:`torchvision.utils.draw_bounding_boxes`; captions with PIL's text
drawing. Used by the TensorBoard heatmap panel (:mod:`wsol.callbacks.cam_heatmaps`) and by
``wsol-predict``'s overlays.

Boxes are inclusive pixel boxes ``(x0, y0, x1, y1)`` (the protocol's convention): the outline
is drawn on the pixels of the box's border, ``width`` pixels inwards, so column ``x0`` between
rows ``y0`` and ``y1`` has the box's colour.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch
from matplotlib import font_manager
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor
from torchvision.utils import draw_bounding_boxes

from wsol.viz.colormap import apply_colormap

#: Ground-truth boxes.
GT_COLOR = (0, 255, 0)
#: Predicted boxes.
PRED_COLOR = (0, 191, 255)
#: Caption backgrounds: top-1 correct, wrong, neutral (maps without a verdict).
CORRECT_COLOR = (24, 120, 48)
WRONG_COLOR = (160, 32, 32)
NEUTRAL_COLOR = (48, 48, 48)


def denormalize(images: Tensor, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    """Undo the input normalization.

    Args:
        images: [B, 3, H, W] or [3, H, W] float, normalized as ``(x - mean) / std``.
        mean, std: per-channel values used for the normalization (of the [0, 1] image).

    Returns:
        uint8 tensor of the same shape, on the CPU.
    """
    x = images.detach().float().cpu()
    shape = (3, 1, 1) if x.ndim == 3 else (1, 3, 1, 1)
    mean_t = torch.tensor(list(mean), dtype=torch.float32).view(shape)
    std_t = torch.tensor(list(std), dtype=torch.float32).view(shape)
    return (x * std_t + mean_t).mul(255).round().clamp(0, 255).to(torch.uint8)


def blend(image: Tensor, heat: Tensor, alpha: float = 0.5) -> Tensor:
    """``(1 - alpha) * image + alpha * heat``, rounded.

    Args:
        image, heat: uint8 [3, H, W].
        alpha: weight of the heatmap in [0, 1].

    Returns:
        uint8 [3, H, W].
    """
    if image.shape != heat.shape:
        raise ValueError(f"image {tuple(image.shape)} and heatmap {tuple(heat.shape)} differ")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    mixed = image.float() * (1.0 - alpha) + heat.float() * alpha
    return mixed.round().clamp(0, 255).to(torch.uint8)


def heatmap_overlay(image: Tensor, scoremap: Tensor, lut: Tensor, alpha: float = 0.5) -> Tensor:
    """A score map coloured through ``lut`` and blended over the image.

    Args:
        image: uint8 [3, H, W].
        scoremap: [H, W] float in [0, 1], same size as the image.
        lut: uint8 [256, 3] colormap table.
        alpha: heatmap weight.

    Returns:
        uint8 [3, H, W].
    """
    return blend(image, apply_colormap(scoremap, lut), alpha)


def draw_boxes(
    image: Tensor,
    boxes: Tensor | np.ndarray | Sequence[Sequence[int]],
    color: tuple[int, int, int],
    width: int = 1,
    labels: Sequence[str] | None = None,
    font_size: int | None = None,
) -> Tensor:
    """Outline inclusive pixel boxes.

    Args:
        image: uint8 [3, H, W].
        boxes: [K, 4] integer boxes (x0, y0, x1, y1), inclusive; clipped to the image.
            K may be 0 (the image comes back unchanged).
        color: RGB outline colour.
        width: outline width in pixels, drawn inwards from the box border.
        labels: optional text per box, written at its top-left corner.
        font_size: label text size in pixels (matplotlib's DejaVu Sans); None: PIL's small
            default font.

    Returns:
        uint8 [3, H, W].
    """
    boxes = torch.as_tensor(np.asarray(boxes), dtype=torch.int64).reshape(-1, 4)
    if len(boxes) == 0:
        return image.clone()
    height, width_px = image.shape[-2:]
    boxes = boxes.clone()
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, width_px - 1)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, height - 1)
    return draw_bounding_boxes(
        image,
        boxes,
        labels=list(labels) if labels is not None else None,
        colors=tuple(color),
        width=max(1, int(width)),
        label_colors=(255, 255, 255) if labels is not None else None,
        label_background_colors=tuple(color) if labels is not None else None,
        fill_labels=labels is not None,
        font=_font_file() if font_size is not None else None,
        font_size=font_size,
    )


@lru_cache(maxsize=1)
def _font_file() -> str:
    """Path of a TrueType font that is always there (matplotlib ships DejaVu Sans)."""
    return font_manager.findfont("DejaVu Sans")


def annotate(
    image: Tensor,
    scoremap: Tensor,
    lut: Tensor,
    gt_boxes: Tensor | None = None,
    pred_boxes: Tensor | None = None,
    alpha: float = 0.5,
    width: int | None = None,
    pred_labels: Sequence[str] | None = None,
) -> Tensor:
    """Heatmap overlay with ground-truth (green) and predicted (blue) boxes on top.

    Args:
        image: uint8 [3, H, W].
        scoremap: [H, W] float in [0, 1].
        lut: uint8 [256, 3].
        gt_boxes: [K, 4] inclusive boxes or None.
        pred_boxes: [P, 4] inclusive boxes or None.
        alpha: heatmap weight.
        width: box outline width; None scales it with the image (1 px per 150 px of the
            shorter side, at least 1).
        pred_labels: optional text per predicted box (font scaled with the image).

    Returns:
        uint8 [3, H, W].
    """
    if width is None:
        width = line_width(image.shape[-2:])
    out = heatmap_overlay(image, scoremap, lut, alpha)
    if gt_boxes is not None:
        out = draw_boxes(out, gt_boxes, GT_COLOR, width)
    if pred_boxes is not None:
        font_size = max(10, min(image.shape[-2:]) // 40) if pred_labels is not None else None
        out = draw_boxes(out, pred_boxes, PRED_COLOR, width, pred_labels, font_size)
    return out


def line_width(size: Sequence[int]) -> int:
    """Box outline width for an image of (H, W): one pixel per 150 of the shorter side."""
    return max(1, round(min(int(s) for s in size) / 150))


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: fixed-size bitmap font
        return ImageFont.load_default()


def _fit(text: str, font: ImageFont.ImageFont, width: int) -> str:
    """``text`` shortened with '..' until it fits ``width`` pixels."""
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "..") > width:
        text = text[:-1]
    return text + ".."


def add_caption(
    tile: Tensor,
    lines: Sequence[str],
    background: tuple[int, int, int] = NEUTRAL_COLOR,
    font_size: int | None = None,
) -> Tensor:
    """Put a strip of text lines above an image.

    Args:
        tile: uint8 [3, H, W].
        lines: text lines (shortened with '..' to the tile's width).
        background: strip colour (e.g. :data:`CORRECT_COLOR` / :data:`WRONG_COLOR`).
        font_size: pixels; None scales with the tile width (9 to 14).

    Returns:
        uint8 [3, H + strip, W]; the strip is ``len(lines) * (font_size + 3) + 2`` pixels.
    """
    width = int(tile.shape[-1])
    size = font_size or max(9, min(14, width // 13))
    font = _font(size)
    step = size + 3
    strip = Image.new("RGB", (width, len(lines) * step + 2), tuple(background))
    draw = ImageDraw.Draw(strip)
    for row, text in enumerate(lines):
        draw.text((2, 1 + row * step), _fit(text, font, width - 4), fill=(255, 255, 255), font=font)
    strip_t = torch.from_numpy(np.asarray(strip).copy()).permute(2, 0, 1)
    return torch.cat([strip_t, tile], dim=1)
