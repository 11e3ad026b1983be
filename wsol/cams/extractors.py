"""The calling convention of every post-hoc extractor and the model-state guard they share.

``maps = Extractor(model, ...)(images, class_ids)`` gives [B, H, W] score maps in [0, 1] at the
input resolution. Each extractor only computes raw maps (`Extractor.explain`, [B, h, w] at
its own resolution, unnormalized); upsampling and normalization come from the one CAM pipeline,
`wsol.cams.pipeline.scoremaps`, like the CAMs of trained methods.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from wsol.cams.pipeline import scoremaps


def logits_of(output) -> Tensor:
    """The [B, K] logits of a model output: a tensor, or an object with ``.logits``."""
    logits = getattr(output, "logits", output)
    if not isinstance(logits, Tensor) or logits.ndim != 2:
        raise TypeError(
            "the model must return [B, K] logits (or an object with a .logits tensor), got "
            f"{type(output).__name__}{tuple(getattr(logits, 'shape', ()))}"
        )
    return logits


def check_class_ids(class_ids: Tensor | Sequence[int], batch_size: int, device) -> Tensor:
    """One integer class id per image, as a [B] long tensor on ``device``.

    Raises:
        ValueError: for a scalar, a non-integer dtype or a length other than ``batch_size``.
    """
    ids = torch.as_tensor(class_ids)
    if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
        raise ValueError(f"class_ids must be integers, got dtype {ids.dtype}")
    if ids.ndim != 1 or len(ids) != batch_size:
        raise ValueError(
            f"class_ids must hold one class id per image: expected shape ({batch_size},), "
            f"got {tuple(ids.shape)}"
        )
    ids = ids.to(device=device, dtype=torch.long)
    return ids.clone() if ids.is_inference() else ids


def class_scores(logits: Tensor, class_ids: Tensor) -> Tensor:
    """[B] logit of each image's class; checks the ids against the number of classes K."""
    if class_ids.numel() and (class_ids.min() < 0 or class_ids.max() >= logits.shape[1]):
        raise ValueError(
            f"class_ids must lie in [0, {logits.shape[1] - 1}] (the model has "
            f"{logits.shape[1]} classes), got {class_ids.tolist()}"
        )
    return logits.gather(1, class_ids[:, None]).squeeze(1)


@contextmanager
def explaining(model: nn.Module, eval_mode: bool = True) -> Iterator[None]:
    """Run the model for an explanation, then leave it as it was.

    Gradients are enabled locally (also inside ``torch.no_grad()`` or
    ``torch.inference_mode()``); with ``eval_mode`` the model runs in eval mode and every
    module's training flag is restored afterwards. Parameters' ``requires_grad`` and ``.grad``
    are never changed by the extractors (they take gradients with ``torch.autograd.grad``).
    """
    flags = [(module, module.training) for module in model.modules()]
    try:
        if eval_mode:
            model.eval()
        with torch.inference_mode(False), torch.enable_grad():
            yield
    finally:
        for module, training in flags:
            module.training = training


def prepare_images(images: Tensor) -> Tensor:
    """Detached images usable in autograd (inference tensors are copied), [B, C, H, W]."""
    if not isinstance(images, Tensor) or images.ndim != 4:
        raise ValueError(
            f"images must be a [B, C, H, W] tensor, got {tuple(getattr(images, 'shape', ()))}"
        )
    return images.clone() if images.is_inference() else images.detach()


class Extractor(ABC):
    """Base class: model + settings in the constructor, ``extractor(images, class_ids)``.

    Args:
        model: a classifier returning [B, K] logits (or an output with ``.logits``).
        eval_mode: explain the model in eval mode (the training flags are restored after).

    Attributes:
        invalid: [B] bool of the last call: maps that were constant or not finite (returned as
            all zeros by the pipeline).
    """

    def __init__(self, model: nn.Module, eval_mode: bool = True) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
        self.model = model
        self.eval_mode = bool(eval_mode)
        self.invalid: Tensor | None = None

    def __call__(self, images: Tensor, class_ids: Tensor | Sequence[int]) -> Tensor:
        """Score maps of the given classes.

        Args:
            images: [B, C, H, W] network input.
            class_ids: [B] one class id per image.

        Returns:
            [B, H, W] float64 in [0, 1] (per-image min-max; constant maps are all zeros).
        """
        maps = self.explain(images, class_ids)
        result, self.invalid = scoremaps(maps, tuple(images.shape[-2:]))
        return result

    def explain(self, images: Tensor, class_ids: Tensor | Sequence[int]) -> Tensor:
        """Raw maps [B, h, w] (the extractor's own resolution, unnormalized), no gradient."""
        return self._run(self._explain, images, class_ids)

    def _run(self, compute, images: Tensor, class_ids: Tensor | Sequence[int]) -> Tensor:
        """``compute(images, class_ids)`` on checked inputs with the model state guarded."""
        with explaining(self.model, self.eval_mode):
            x = prepare_images(images)
            result = compute(x, check_class_ids(class_ids, len(x), x.device))
        return result.detach()

    @abstractmethod
    def _explain(self, images: Tensor, class_ids: Tensor) -> Tensor:
        """The method's own maps [B, h, w]; runs with gradients enabled, model in eval mode."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({type(self.model).__name__})"
