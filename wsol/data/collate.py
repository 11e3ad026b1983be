"""Batching WSOL samples: fixed-size tensors are stacked, per-image box sets stay lists."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor
from torchvision import tv_tensors


def _plain(tensor: Tensor) -> Tensor:
    return tensor.as_subclass(Tensor)


def _stack_optional(samples: Sequence[dict], key: str) -> Tensor | None:
    """Stack ``key`` over the samples; None when every sample has None (or lacks the key)."""
    values = [sample.get(key) for sample in samples]
    if all(value is None for value in values):
        return None
    missing = [s["image_id"] for s, v in zip(samples, values, strict=True) if v is None]
    if missing:
        raise ValueError(
            f"batch mixes images with and without {key!r}; without: {missing[:5]} "
            "(a split scored by PxAP needs masks for every image)"
        )
    return torch.stack([_plain(value) for value in values])


def collate_wsol(
    samples: Sequence[dict[str, Any]], image_transform: Callable[[Any], Any] | None = None
) -> dict[str, Any]:
    """Collate :class:`~wsol.data.dataset.WSOLDataset` samples into a batch.

    Args:
        samples: the samples.
        image_transform: applied once to the stacked images (as a ``tv_tensors.Image``): the
            per-pixel tail of the samples' pipeline (:func:`wsol.data.transforms.
            split_per_pixel_tail`), or None.

    Returns:
        dict with ``images`` float [B, 3, H, W]; ``labels`` LongTensor [B]; ``gt_boxes`` list
        of B LongTensors [K_n, 4] in the eval frame (None when the samples carry no eval
        targets); ``gt_masks`` uint8 [B, H, W] 0/1/255 or None; ``boxes`` list of B
        tv_tensors.BoundingBoxes moved with the images (None when not loaded); ``masks``
        uint8 [B, H, W] moved with the images, or None; ``image_ids`` list[str];
        ``indices`` LongTensor [B]; and, from datasets that skip bad images,
        ``skipped_images`` (the errors of the images replaced in this batch).
    """
    if not samples:
        raise ValueError("cannot collate an empty batch")
    has_targets = "gt_boxes" in samples[0]
    images = torch.stack([_plain(s["image"]) for s in samples])
    if image_transform is not None:
        images = _plain(image_transform(tv_tensors.Image(images)))
    batch = {
        "images": images,
        "labels": torch.tensor([int(s["label"]) for s in samples], dtype=torch.long),
        "gt_boxes": [s["gt_boxes"] for s in samples] if has_targets else None,
        "gt_masks": _stack_optional(samples, "gt_mask"),
        "boxes": [s["boxes"] for s in samples] if samples[0].get("boxes") is not None else None,
        "masks": _stack_optional(samples, "mask"),
        "image_ids": [s["image_id"] for s in samples],
        "indices": torch.tensor([int(s["index"]) for s in samples], dtype=torch.long),
    }
    if "skipped" in samples[0]:
        batch["skipped_images"] = [error for s in samples for error in s["skipped"]]
    return batch
