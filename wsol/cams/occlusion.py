"""Occlusion sensitivity (Zeiler and Fergus, ECCV 2014), batched over window positions."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from wsol.cams.extractors import Extractor, class_scores, logits_of

SCORES = ("logit", "probability")


def _pair(value: int | tuple[int, int], name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(int(v) for v in value)
    if len(pair) != 2 or min(pair) < 1:
        raise ValueError(f"{name} must be a positive int or (height, width), got {value!r}")
    return pair


def window_starts(length: int, window: int, stride: int) -> list[int]:
    """Window offsets along one axis: every ``stride``, plus one flush with the far border."""
    if window > length:
        raise ValueError(f"occlusion window {window} is larger than the image side {length}")
    starts = list(range(0, length - window + 1, stride))
    if starts[-1] != length - window:
        starts.append(length - window)
    return starts


class Occlusion(Extractor):
    """Score drop when a window of the image is replaced by ``baseline``.

    ``map[p] = mean over the windows W covering pixel p of (y_c(x) - y_c(x with W occluded))``.
    Windows move by ``stride``; one more window row/column flush with the border covers the
    pixels a plain stride would leave out (captum's Occlusion leaves them at 0).

    Args:
        model, eval_mode: see :class:`Extractor`.
        window: occluded patch size, int or (height, width).
        stride: step between windows, int or (height, width).
        baseline: value the occluded pixels take (0: the mean color of normalized inputs).
        score: ``"logit"`` or ``"probability"`` (softmax) of the class.
        batch_size: occluded images per forward pass.
    """

    def __init__(
        self,
        model: nn.Module,
        window: int | tuple[int, int] = 16,
        stride: int | tuple[int, int] = 8,
        baseline: float = 0.0,
        score: str = "logit",
        batch_size: int = 64,
        eval_mode: bool = True,
    ) -> None:
        super().__init__(model, eval_mode)
        if score not in SCORES:
            raise ValueError(f"score must be one of {SCORES}, got {score!r}")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.window, self.stride = _pair(window, "window"), _pair(stride, "stride")
        self.baseline, self.score = float(baseline), score
        self.batch_size = int(batch_size)

    def _scores(self, images: Tensor, class_ids: Tensor) -> Tensor:
        logits = logits_of(self.model(images))
        if self.score == "probability":
            logits = logits.softmax(dim=1)
        return class_scores(logits, class_ids)

    @torch.inference_mode()
    def _explain(self, images: Tensor, class_ids: Tensor) -> Tensor:
        batch, _, height, width = images.shape
        (wh, ww), (sh, sw) = self.window, self.stride
        windows = [
            (top, left)
            for top in window_starts(height, wh, sh)
            for left in window_starts(width, ww, sw)
        ]
        reference = self._scores(images, class_ids)
        total = images.new_zeros(batch, height, width)
        covered = images.new_zeros(height, width)
        per_pass = max(1, self.batch_size // batch)
        for start in range(0, len(windows), per_pass):
            chunk = windows[start : start + per_pass]
            masks = images.new_zeros(len(chunk), 1, 1, height, width)
            for index, (top, left) in enumerate(chunk):
                masks[index, ..., top : top + wh, left : left + ww] = 1
            occluded = images[None] * (1 - masks) + self.baseline * masks
            occluded = occluded.flatten(0, 1).contiguous(memory_format=torch.channels_last)
            scores = self._scores(occluded, class_ids.repeat(len(chunk)))
            drops = reference - scores.view(len(chunk), batch)
            total += torch.einsum("nb,nhw->bhw", drops, masks[:, 0, 0])
            covered += masks[:, 0, 0].sum(dim=0)
        return total / covered
