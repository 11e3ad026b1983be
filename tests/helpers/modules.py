"""Small modules built for tests."""

from __future__ import annotations

from torch import Tensor, nn


class ConvTwice(nn.Module):
    """One 3x3 convolution applied twice per forward: a layer that runs more than once."""

    def __init__(self, channels: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(self.conv(x))
