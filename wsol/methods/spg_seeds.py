"""SPG's self-produced guidance as pure functions: attention maps → seed masks → seed losses.

Semantics (as the benchmark's ``wsol/method/spg.py`` runs them; docs in :mod:`wsol.methods.spg`):

- Every map is first upsampled bilinearly (``align_corners=False``) to the mask frame (the
  benchmark's fixed 224x224, its training crop; here the input size, the same at 224 px).
- The *attention* is the top class map at the label, detached, upsampled, then min-max
  normalized per image over space (upsampling first: it changes the extremes).
- A seed mask holds :data:`SEED_FOREGROUND` (1), :data:`SEED_BACKGROUND` (0) or
  :data:`SEED_IGNORE` (255) per pixel. Per image: foreground where ``map > high``; when that is
  fewer than ``min_foreground`` pixels (30), foreground where ``map > fallback_ratio * max(map)``
  (0.7) instead; then background where ``map < low``, which wins over foreground.
- A seed loss is BCE-with-logits of a one-channel branch map (upsampled to the frame) against
  the mask, averaged over the non-ignored pixels of the whole batch.

Two cases the benchmark leaves to NaN get a documented value here:

- A constant (or non-finite) class map cannot be min-max normalized: the benchmark divides by
  zero, the NaN attention is neither above nor below any threshold, so the image's mask is all
  ignore. Here :func:`label_attention` flags the image and :func:`seed_mask` ignores it whole:
  the same mask without the NaN.
- A seed loss with no non-ignored pixel in the batch is NaN in the benchmark (mean of nothing);
  here it is 0 (still attached to the graph) and :func:`seed_loss` reports the pixel count.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from wsol.cams.normalize import minmax_normalize

SEED_BACKGROUND = 0
SEED_FOREGROUND = 1
SEED_IGNORE = 255


def upsample_maps(maps: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear upsampling (``align_corners=False``, as ``nn.Upsample(mode="bilinear")``).

    Args:
        maps: [B, C, h, w].
        size: (H, W) of the mask frame.

    Returns:
        [B, C, H, W], differentiable.
    """
    return F.interpolate(
        maps, size=tuple(int(s) for s in size), mode="bilinear", align_corners=False
    )


def label_attention(
    class_maps: Tensor, labels: Tensor, size: tuple[int, int]
) -> tuple[Tensor, Tensor]:
    """The top map of each image's label: detached, upsampled to ``size``, min-max normalized.

    Args:
        class_maps: [B, K, h, w] class maps of the classifier (SPG's ``SPG_A4`` output).
        labels: [B] class ids.
        size: (H, W) of the mask frame.

    Returns:
        attention: [B, H, W] in [0, 1], no gradient (zeros for a constant/non-finite map).
        constant: [B] bool, True where the map could not be normalized.
    """
    picked = class_maps.detach()[
        torch.arange(class_maps.shape[0], device=class_maps.device), labels
    ]
    upsampled = upsample_maps(picked[:, None], size)[:, 0]
    return minmax_normalize(upsampled)


def fused_attention(logits_b1: Tensor, logits_b2: Tensor, size: tuple[int, int]) -> Tensor:
    """Mean of the two B branches' probabilities, detached: the seed source of branch C.

    Args:
        logits_b1, logits_b2: [B, 1, h, w] B-branch logits (any resolutions).
        size: (H, W) of the mask frame.

    Returns:
        [B, H, W] in (0, 1), no gradient.
    """
    b1 = torch.sigmoid(upsample_maps(logits_b1.detach(), size))
    b2 = torch.sigmoid(upsample_maps(logits_b2.detach(), size))
    return ((b1 + b2) / 2)[:, 0]


def seed_mask(
    attention: Tensor,
    high: float,
    low: float,
    min_foreground: int = 30,
    fallback_ratio: float = 0.7,
    ignore_images: Tensor | None = None,
) -> Tensor:
    """Foreground / background / ignore seeds of an attention map (see the module docstring).

    Args:
        attention: [B, H, W] map (min-max attention, or a probability map).
        high: foreground where ``attention > high``.
        low: background where ``attention < low`` (wins over foreground).
        min_foreground: fewer foreground pixels than this switch an image to the fallback.
        fallback_ratio: the fallback foreground is ``attention > fallback_ratio * max``.
        ignore_images: [B] bool; True makes the image's mask all :data:`SEED_IGNORE`.

    Returns:
        [B, H, W] uint8 in {SEED_BACKGROUND, SEED_FOREGROUND, SEED_IGNORE}.
    """
    if attention.ndim != 3:
        raise ValueError(f"attention must be [B, H, W], got shape {tuple(attention.shape)}")
    attention = attention.detach()
    foreground = attention > high
    too_few = foreground.flatten(1).sum(dim=1) < min_foreground
    peak = attention.flatten(1).amax(dim=1)
    fallback = attention > (fallback_ratio * peak)[:, None, None]
    foreground = torch.where(too_few[:, None, None], fallback, foreground)
    mask = torch.full(attention.shape, SEED_IGNORE, dtype=torch.uint8, device=attention.device)
    mask[foreground] = SEED_FOREGROUND
    mask[attention < low] = SEED_BACKGROUND
    if ignore_images is not None:
        mask[ignore_images] = SEED_IGNORE
    return mask


def seed_loss(logits: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """BCE-with-logits of a one-channel branch against its seeds, over non-ignored pixels.

    Args:
        logits: [B, 1, h, w] branch logits (upsampled here to the mask's frame).
        mask: [B, H, W] seeds from :func:`seed_mask`.

    Returns:
        loss: 0-dim mean over the batch's non-ignored pixels (0, attached, when there are none).
        count: 0-dim number of non-ignored pixels.
    """
    upsampled = upsample_maps(logits, mask.shape[-2:])[:, 0]
    keep = mask != SEED_IGNORE
    target = (mask == SEED_FOREGROUND).to(upsampled.dtype)
    per_pixel = F.binary_cross_entropy_with_logits(upsampled, target, reduction="none")
    count = keep.sum()
    # A masked sum over the count (no host sync); 0 when nothing is kept.
    loss = (per_pixel * keep).sum() / count.clamp(min=1)
    return loss, count


def seed_fractions(mask: Tensor) -> tuple[Tensor, Tensor]:
    """Shares of foreground and background pixels of a seed mask [B, H, W] (0-dim each)."""
    total = mask.numel()
    foreground = (mask == SEED_FOREGROUND).sum() / total
    background = (mask == SEED_BACKGROUND).sum() / total
    return foreground, background
