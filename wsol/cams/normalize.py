"""From low-resolution CAMs to the protocol's score maps (docs/protocol.md#score-maps).

Bicubic upsampling to the evaluation frame in float64 (``F.interpolate`` with
``align_corners=False``; bilinear would change the results), then per-image min-max
normalization. The reference uses OpenCV's INTER_CUBIC: equal to rounding (1e-16) when the
frame is an integer multiple of the CAM (7, 14, 28 -> 224); with a non-integer factor
OpenCV's float32 interpolation weights make the two differ by ~1e-6. Maps that cannot be
normalized (a NaN or infinite value, or a constant map) become all zeros and are flagged,
so the caller counts and logs them instead of failing silently: the one rule for every map
normalized in wsol (score maps, and the attention maps methods compute during training).

`wsol.cams.pipeline.scoremaps` composes the two steps; use it rather than these.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def upsample_cams(cams: Tensor, size: tuple[int, int]) -> Tensor:
    """Bicubic upsampling in float64.

    Args:
        cams: [B, h, w] class activation maps, any float dtype.
        size: (H, W) of the evaluation frame.

    Returns:
        [B, H, W] float64 on the cams' device.
    """
    if cams.ndim != 3:
        raise ValueError(f"cams must be [B, h, w], got shape {tuple(cams.shape)}")
    height, width = (int(s) for s in size)
    maps = cams.detach().to(torch.float64)[:, None]
    return F.interpolate(maps, size=(height, width), mode="bicubic", align_corners=False)[:, 0]


def minmax_normalize(maps: Tensor) -> tuple[Tensor, Tensor]:
    """Per-image ``(x - min) / (max - min)``, as the reference computes it.

    Args:
        maps: [B, H, W] float maps (normally float64 from `upsample_cams`); more leading
            dims ([B, K, H, W]) normalize each map over its last two (spatial) dims.

    Returns:
        normalized: same shape, in [0, 1], same dtype; zeros for invalid maps.
        invalid: [B] (or the leading dims) bool, True where the map had a NaN or infinite
            value or was constant.
    """
    if maps.ndim < 3:
        raise ValueError(f"maps must be [B, H, W], got shape {tuple(maps.shape)}")
    flat = maps.flatten(-2)
    low = flat.amin(dim=-1)
    high = flat.amax(dim=-1)
    invalid = ~torch.isfinite(flat).all(dim=-1) | (high == low)
    span = torch.where(invalid, torch.ones_like(high), high - low)
    shifted = maps - torch.where(invalid, torch.zeros_like(low), low)[..., None, None]
    normalized = shifted / span[..., None, None]
    normalized = torch.where(invalid[..., None, None], torch.zeros_like(normalized), normalized)
    return normalized, invalid
