"""CutMix (Yun et al., ICCV 2019): train on images with a box pasted from another image.

In training (with labels), with probability ``mix_prob`` per batch:

1. λ ~ Beta(alpha, alpha) (alpha = 1: uniform); a permutation ``perm`` of the batch;
2. a box of side ``sqrt(1 − λ)`` times the image's sides, centred at a uniform pixel and
   clipped to the image; every image gets the box region of image ``perm[i]``;
3. λ is re-computed from the pasted area: ``λ = 1 − box area / image area``;
4. loss = λ · CE(logits, y) + (1 − λ) · CE(logits, y[perm]).

One box, one λ and one permutation per batch. Evaluation and prediction are CAM's. The network
is CAM's: the same head and class maps.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from wsol.methods.cam import CAMMethod
from wsol.methods.outputs import MethodOutput
from wsol.models.base import Backbone


def cutmix_box(height: int, width: int, lam: float, center: tuple[int, int]) -> tuple[int, ...]:
    """The pasted box for a drawn λ, clipped to the image.

    Args:
        height, width: image size in pixels.
        lam: the drawn mixing ratio in [0, 1]; the box sides are ``sqrt(1 − lam)`` of the image's.
        center: (row, column) of the box centre.

    Returns:
        (top, left, bottom, right), bottom/right exclusive.
    """
    ratio = math.sqrt(1.0 - lam)
    half_h, half_w = int(height * ratio) // 2, int(width * ratio) // 2
    row, col = center
    top, bottom = max(row - half_h, 0), min(row + half_h, height)
    left, right = max(col - half_w, 0), min(col + half_w, width)
    return top, left, bottom, right


def paste_box(images: Tensor, perm: Tensor, box: tuple[int, ...]) -> tuple[Tensor, float]:
    """Paste ``images[perm]``'s box region into each image.

    Args:
        images: [B, C, H, W].
        perm: [B] permutation of the batch.
        box: (top, left, bottom, right), as :func:`cutmix_box` returns.

    Returns:
        (mixed images [B, C, H, W], λ = 1 − box area / image area: the share of each mixed
        image that is its own).
    """
    top, left, bottom, right = box
    mixed = images.clone()
    mixed[:, :, top:bottom, left:right] = images[perm, :, top:bottom, left:right]
    height, width = images.shape[-2:]
    return mixed, 1.0 - (bottom - top) * (right - left) / (height * width)


class CutMixMethod(CAMMethod):
    """CAM trained on CutMix batches with the area-weighted mixed cross-entropy.

    Args:
        backbone, num_classes: as :class:`CAMMethod`.
        alpha: Beta(alpha, alpha) of the drawn λ (1: uniform, the paper's).
        mix_prob: probability that a training batch is mixed (the paper: 1 for ImageNet).
        **cam_options: ``head``, ``lr_rule`` of :class:`CAMMethod`.
    """

    def __init__(
        self,
        backbone: Backbone,
        num_classes: int,
        alpha: float = 1.0,
        mix_prob: float = 1.0,
        **cam_options,
    ):
        super().__init__(backbone, num_classes, **cam_options)
        if not alpha > 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        if not 0.0 <= mix_prob <= 1.0:
            raise ValueError(f"mix_prob must be in [0, 1], got {mix_prob}")
        self.alpha, self.mix_prob = float(alpha), float(mix_prob)

    def forward(self, images: Tensor, labels: Tensor | None = None) -> MethodOutput:
        """Training with labels: CAM on a mixed batch; ``aux`` gets ``mix_labels`` [B] (the
        pasted images' labels) and ``mix_lambda`` (0-dim). Otherwise CAM as is."""
        if not self.training or labels is None or not bool(torch.rand(()) < self.mix_prob):
            return super().forward(images, labels)
        lam = float(torch.distributions.Beta(self.alpha, self.alpha).sample())
        height, width = images.shape[-2:]
        center = (int(torch.randint(height, ())), int(torch.randint(width, ())))
        perm = torch.randperm(images.shape[0], device=images.device)
        mixed, lam = paste_box(images, perm, cutmix_box(height, width, lam, center))
        output = super().forward(mixed, labels)
        output.aux["mix_labels"] = labels[perm]
        output.aux["mix_lambda"] = torch.tensor(lam, device=images.device)
        return output

    def loss(self, output: MethodOutput, labels: Tensor) -> dict[str, Tensor]:
        """``{"loss"}``: λ · CE(y) + (1 − λ) · CE(y[perm]) on a mixed batch, else CE(y)."""
        if "mix_labels" not in output.aux:
            return super().loss(output, labels)
        lam = output.aux["mix_lambda"]
        own = F.cross_entropy(output.logits, labels)
        pasted = F.cross_entropy(output.logits, output.aux["mix_labels"])
        return {"loss": lam * own + (1.0 - lam) * pasted}

    def extra_scalars(self, output: MethodOutput) -> dict[str, Tensor]:
        """``mix_lambda``: the batch's own-image share (1 for a batch left unmixed)."""
        if "mix_lambda" not in output.aux:
            return {"mix_lambda": torch.ones((), device=output.logits.device)}
        return {"mix_lambda": output.aux["mix_lambda"]}

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, mix_prob={self.mix_prob}"
