"""Weight initializations of the new layers (the ones pretrained weights do not cover)."""

from __future__ import annotations

from torch import nn


def init_he(module: nn.Module) -> None:
    """Kaiming-normal (fan_out, ReLU) convs, zero biases, BN weight 1 / bias 0 (VGG conv6)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def init_xavier(module: nn.Module) -> None:
    """Xavier-uniform conv weights and zero biases (ACoL's class-map heads)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def init_linear(linear: nn.Linear, std: float = 0.01) -> None:
    """Normal(0, std) weight and zero bias (the CAM classifier)."""
    nn.init.normal_(linear.weight, mean=0.0, std=std)
    nn.init.zeros_(linear.bias)
