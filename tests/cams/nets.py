"""Small classifiers for the extractor tests (CPU, milliseconds per call)."""

from __future__ import annotations

import torch
from torch import nn


class SpatialNet(nn.Module):
    """conv-ReLU-pool-conv-ReLU features ("features", nothing in-place after it), then a conv
    head before pooling, so the class score's gradients vary over the feature map."""

    def __init__(self, num_classes: int = 5, inplace: bool = False, gain: float = 1.0):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.ReLU(inplace=inplace),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 12, 3, padding=1),
            nn.ReLU(inplace=inplace),
        )
        self.head = nn.Sequential(
            nn.Conv2d(12, 12, 3, padding=1),
            nn.ReLU(inplace=inplace),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(12, num_classes),
        )
        with torch.no_grad():
            self.head[-1].weight.mul_(gain)

    def forward(self, x):
        return self.head(self.features(x))


class GAPNet(nn.Module):
    """Features → global average pooling → linear ("fc"): the CAM architecture."""

    def __init__(self, num_classes: int = 5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(8, 10, 3, padding=1)
        )
        self.fc = nn.Linear(10, num_classes)

    def forward(self, x):
        return self.fc(self.features(x).mean(dim=(2, 3)))


def spatial_net(seed: int = 0, **kwargs) -> SpatialNet:
    torch.manual_seed(seed)
    return SpatialNet(**kwargs).eval()


def images(batch: int = 3, size: int = 16, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """[B] Pearson correlation of each pair of maps."""
    a = a.flatten(1).double()
    b = b.flatten(1).double()
    a = a - a.mean(dim=1, keepdim=True)
    b = b - b.mean(dim=1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))
