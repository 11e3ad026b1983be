"""The one CAM pipeline: class maps → chosen class → upsample → normalize → score maps.

Validation, test, prediction, external scoring and the analyses all turn maps into the
protocol's score maps (docs/protocol.md#score-maps) through `scoremaps`; nothing else upsamples or
normalizes a map. The two protocol steps themselves (bicubic upsampling in float64, per-image
min-max with one rule for NaN, infinite and constant maps) live in `wsol.cams.normalize`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from wsol.cams.normalize import minmax_normalize, upsample_cams


def pick_class_maps(maps: Tensor, class_ids: Tensor | None = None) -> Tensor:
    """The map of each image's chosen class.

    Args:
        maps: [B, K, h, w] class maps (then ``class_ids`` picks the channel) or [B, h, w]
            maps (then ``class_ids`` must be None).
        class_ids: [B] int class index per image, or None.

    Returns:
        [B, h, w] maps (a view of ``maps`` where possible).
    """
    if maps.ndim == 3:
        if class_ids is not None:
            raise ValueError("maps [B, h, w] already have one map per image: pass class_ids=None")
        return maps
    if maps.ndim != 4:
        raise ValueError(f"maps must be [B, K, h, w] or [B, h, w], got shape {tuple(maps.shape)}")
    if class_ids is None:
        raise ValueError("class maps [B, K, h, w] need class_ids [B] to pick each image's map")
    ids = torch.as_tensor(class_ids, device=maps.device).reshape(-1).long()
    batch, classes = maps.shape[:2]
    if len(ids) != batch:
        raise ValueError(f"class_ids has {len(ids)} entries for {batch} maps")
    if len(ids) and (int(ids.min()) < 0 or int(ids.max()) >= classes):
        raise ValueError(f"class_ids must lie in [0, {classes - 1}], got {ids.tolist()}")
    return maps[torch.arange(batch, device=maps.device), ids]


def scoremaps(
    maps: Tensor, size: tuple[int, int], class_ids: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """The protocol's score maps of a batch.

    Args:
        maps: [B, K, h, w] class maps with ``class_ids`` [B], or [B, h, w] maps.
        size: (H, W) of the evaluation frame.
        class_ids: [B] class per image for class maps; None for [B, h, w] maps.

    Returns:
        scoremaps: [B, H, W] float64 in [0, 1] (bicubic, then per-image min-max);
        invalid: [B] bool, True where a map had a NaN or infinite value or was constant
            (its score map is all zeros; callers count and log these).
    """
    return minmax_normalize(upsample_cams(pick_class_maps(maps, class_ids), size))


__all__ = ["pick_class_maps", "scoremaps"]
