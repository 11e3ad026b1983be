"""HaS, Hide-and-Seek (Singh & Lee, ICCV 2017): hide random grid patches of training images.

The input is cut into a grid of ``grid`` x ``grid`` pixel patches (the last row and column
may be narrower) and each patch of each image is hidden independently with probability
``hide_prob``, so the classifier cannot rely on the most discriminative part alone and its map
spreads over the object. Evaluation and prediction see the whole image (identity).

Patch fill: a hidden patch is set to ``fill`` in the *normalized* input; the default 0 is the
dataset mean colour after mean/std normalization (what the HaS paper fills with). The network is
CAM's: the same head, loss and class maps.
"""

from __future__ import annotations

import torch
from torch import Tensor

from wsol.methods.cam import CAMMethod
from wsol.methods.outputs import MethodOutput
from wsol.models.base import Backbone


def hide_patches(
    images: Tensor, grid: int, hide_prob: float, fill: float = 0.0
) -> tuple[Tensor, Tensor]:
    """Hide each ``grid`` x ``grid`` patch of each image with probability ``hide_prob``.

    Args:
        images: [B, C, H, W] normalized images.
        grid: patch side in pixels.
        hide_prob: probability that a patch is hidden, in [0, 1].
        fill: value written into hidden pixels (0: the dataset mean of normalized inputs).

    Returns:
        (hidden images [B, C, H, W], hidden [B, H, W] bool: the pixels that were hidden).
    """
    batch, _, height, width = images.shape
    rows, cols = -(-height // grid), -(-width // grid)
    patches = torch.rand(batch, 1, rows, cols, device=images.device) < hide_prob
    hidden = patches.repeat_interleave(grid, dim=2).repeat_interleave(grid, dim=3)
    hidden = hidden[:, :, :height, :width]
    return images.masked_fill(hidden, fill), hidden[:, 0]


class HaSMethod(CAMMethod):
    """CAM trained on images with random grid patches hidden (training only).

    Args:
        backbone, num_classes: as :class:`CAMMethod`.
        grid: patch side in input pixels (the paper: 16 to 56 on 224-px images).
        hide_prob: probability that a patch is hidden (the paper: 0.5).
        fill: value of hidden pixels in the normalized input (0: the dataset mean).
        **cam_options: ``head``, ``lr_rule`` of :class:`CAMMethod`.
    """

    def __init__(
        self,
        backbone: Backbone,
        num_classes: int,
        grid: int = 16,
        hide_prob: float = 0.5,
        fill: float = 0.0,
        **cam_options,
    ):
        super().__init__(backbone, num_classes, **cam_options)
        if grid < 1:
            raise ValueError(f"grid (patch side in pixels) must be >= 1, got {grid}")
        if not 0.0 <= hide_prob <= 1.0:
            raise ValueError(f"hide_prob must be in [0, 1], got {hide_prob}")
        self.grid, self.hide_prob, self.fill = int(grid), float(hide_prob), float(fill)

    def forward(self, images: Tensor, labels: Tensor | None = None) -> MethodOutput:
        """Training: CAM on the images with patches hidden (``aux["hidden"]`` [B, H, W] bool);
        evaluation: CAM on the images as they are."""
        if not self.training:
            return super().forward(images, labels)
        hidden_images, hidden = hide_patches(images, self.grid, self.hide_prob, self.fill)
        output = super().forward(hidden_images, labels)
        output.aux["hidden"] = hidden
        return output

    def extra_scalars(self, output: MethodOutput) -> dict[str, Tensor]:
        """``hidden_fraction``: share of the training pixels hidden in the batch."""
        if "hidden" not in output.aux:
            return {}
        return {"hidden_fraction": output.aux["hidden"].float().mean()}

    def extra_repr(self) -> str:
        return f"grid={self.grid}, hide_prob={self.hide_prob}, fill={self.fill}"
