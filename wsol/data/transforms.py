"""The WSOL protocol's image pipelines, built from ``torchvision.transforms.v2``.

Train: Resize((resize, resize)) → RandomCrop(crop) → RandomHorizontalFlip → float → Normalize.
Eval: Resize((size, size)) → float → Normalize (no crop: the whole image is the eval frame).

Being v2 transforms, they move ``tv_tensors.BoundingBoxes`` and ``tv_tensors.Mask`` together
with the image when called on a sample dict. (Evaluation ground truth does not go through
them: see :mod:`wsol.data.frame` for the protocol's exact rules.)

The loaders run the last two steps (float conversion and normalization, which treat every
pixel alone) once per batch instead of once per image (:func:`split_per_pixel_tail`): the same
numbers, at less than half the per-image cost on the 96-px benchmark.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _to_normalized_float(mean: Sequence[float], std: Sequence[float]) -> list[v2.Transform]:
    return [
        v2.ToDtype({tv_tensors.Image: torch.float32, "others": None}, scale=True),
        v2.Normalize(mean=list(mean), std=list(std)),
    ]


def train_transform(
    resize: int = 256,
    crop: int = 224,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> v2.Compose:
    """Training augmentation: square resize, random crop, horizontal flip, normalization.

    Args:
        resize: side of the square resize (aspect not kept).
        crop: side of the random square crop, ``crop <= resize``.
        mean: per-channel mean of the [0, 1] image.
        std: per-channel standard deviation.
    """
    if crop > resize:
        raise ValueError(f"train crop {crop} is larger than the resize {resize}")
    return v2.Compose(
        [
            v2.Resize((resize, resize), antialias=True),
            v2.RandomCrop(crop),
            v2.RandomHorizontalFlip(),
            *_to_normalized_float(mean, std),
        ]
    )


def eval_transform(
    size: int = 224,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> v2.Compose:
    """Evaluation pipeline: square resize to the eval frame (size x size), normalization."""
    return v2.Compose([v2.Resize((size, size), antialias=True), *_to_normalized_float(mean, std)])


def split_per_pixel_tail(
    transform: v2.Compose | None,
) -> tuple[v2.Compose | None, v2.Compose | None]:
    """(per-sample part, per-pixel tail) of a pipeline: the tail is its trailing
    ``ToDtype`` + ``Normalize``, which give the same numbers on a stacked batch of images as on
    each image; None when the pipeline does not end with them (it then runs whole per sample).
    """
    if transform is None or not isinstance(transform, v2.Compose):
        return transform, None
    steps = list(transform.transforms)
    if len(steps) < 2 or not (
        isinstance(steps[-2], v2.ToDtype) and isinstance(steps[-1], v2.Normalize)
    ):
        return transform, None
    return v2.Compose(steps[:-2]), v2.Compose(steps[-2:])
