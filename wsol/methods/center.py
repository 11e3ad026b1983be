"""The centre baseline of the benchmark's table: one fixed Gaussian map for every image.

Choe et al. (CVPR 2020, TPAMI 2022) score an isotropic Gaussian centred on the image as the
score map of every image, whatever it shows: what a localizer that ignores the image gets from
the data set's centre bias (MaxBoxAccV2 52.5 on ImageNet, 59.7 on CUB, PxAP 45.8 on
OpenImages). Nothing is trained: evaluate it with ``wsol-eval method=center data=<data>``.

The map is ``exp(-r^2 / (2 sigma^2))`` over the input frame, ``r`` the distance to the frame's
centre in units of the frame side. Boxes (at any threshold) and the pixel ranking (PxAP) only
depend on the order of the values, which ``sigma`` does not change, so the numbers do not
depend on it (up to the protocol's 8-bit quantization of the map).

Classification: the method has no classifier; its logits are zeros (top-1 accuracy and top-1
loc are not defined for it and read as those of always predicting class 0).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from wsol.methods.base import WSOLMethod
from wsol.methods.outputs import MethodOutput


def center_gaussian(height: int, width: int, sigma: float, device=None) -> Tensor:
    """[height, width] isotropic Gaussian centred on the frame, 1 at the centre.

    Args:
        height: rows of the frame.
        width: columns of the frame.
        sigma: standard deviation in units of the frame's longer side (> 0).
    """
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    side = float(max(height, width))
    ys = (torch.arange(height, device=device, dtype=torch.float32) + 0.5 - height / 2) / side
    xs = (torch.arange(width, device=device, dtype=torch.float32) + 0.5 - width / 2) / side
    squared = ys[:, None] ** 2 + xs[None, :] ** 2
    return torch.exp(-squared / (2 * sigma**2))


class CenterBaseline(WSOLMethod):
    """The same centred Gaussian as the map of every class of every image (no parameters).

    Args:
        num_classes: K (the logits and maps have K channels, all alike).
        sigma: standard deviation of the Gaussian, in frame sides (does not change the scores).
        lr_rule: unused (nothing is trained); accepted so that the benchmark's experiment files,
            which set it for every method, compose with ``method=center``.
        head: unused, likewise.
    """

    def __init__(self, num_classes: int, sigma: float = 0.25, lr_rule: str = "we", head=None):
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        center_gaussian(1, 1, sigma)  # checks sigma
        self.num_classes = int(num_classes)
        self.sigma = float(sigma)
        # No network: an empty module keeps the contract (param_groups finds no parameter).
        self.backbone = nn.Module()

    def forward(self, images: Tensor, labels: Tensor | None = None) -> MethodOutput:
        """Args: images: [B, 3, H, W] (only their number and size are read); labels: unused.

        Returns:
            zero logits [B, K] and the Gaussian as [B, K, H, W] maps (an expanded view).
        """
        batch, _, height, width = images.shape
        gaussian = center_gaussian(height, width, self.sigma, device=images.device)
        maps = gaussian.to(images.dtype).expand(batch, self.num_classes, height, width)
        logits = images.new_zeros(batch, self.num_classes)
        return MethodOutput(logits=logits, class_maps=maps)

    def param_groups(self, lr: float, head_lr_mult: float) -> list[dict]:
        """No parameters: nothing to optimize."""
        return []

    def describe_param_groups(self, lr: float, head_lr_mult: float) -> str:
        return "centre baseline: no parameters"

    def loss(self, output: MethodOutput, labels: Tensor) -> dict[str, Tensor]:
        """Zero: nothing is trained (the validation loss reads it; ``train: false`` in
        configs/method/center.yaml keeps ``wsol-train`` from fitting)."""
        return {"loss": output.logits.new_zeros(())}
