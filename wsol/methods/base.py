"""The method contract: backbone + head(s) behind one forward pass, its loss and its CAMs."""

from __future__ import annotations

from abc import ABC, abstractmethod

from torch import Tensor, nn

from wsol.cams.pipeline import pick_class_maps
from wsol.methods.outputs import MethodOutput


class WSOLMethod(nn.Module, ABC):
    """Base class of every WSOL method (CAM, ACoL, ...).

    A method is a plain ``nn.Module``; the Lightning module drives it through these four calls.

    Attributes:
        num_classes: K, the number of classes of the logits and class maps.
    """

    num_classes: int

    @abstractmethod
    def forward(self, images: Tensor, labels: Tensor | None = None) -> MethodOutput:
        """Run the network once.

        Args:
            images: [B, 3, H, W] normalized images.
            labels: [B] class ids used by label-dependent methods (ACoL erasing); None for
                prediction without labels.
        """

    @abstractmethod
    def loss(self, output: MethodOutput, labels: Tensor) -> dict[str, Tensor]:
        """Training loss: key ``"loss"`` (what is optimized) plus its named terms."""

    def cams(self, output: MethodOutput, class_ids: Tensor) -> Tensor:
        """Class activation maps [B, h, w] of the given classes, from ``output.class_maps``."""
        return pick_class_maps(output.class_maps, class_ids)

    @abstractmethod
    def param_groups(self, lr: float, head_lr_mult: float) -> list[dict]:
        """Optimizer parameter groups: dicts with ``name``, ``params`` and ``lr``.

        Pretrained layers get ``lr``; new layers get ``lr * head_lr_mult``. Every trainable
        parameter appears in exactly one group.
        """

    def describe_param_groups(self, lr: float, head_lr_mult: float) -> str:
        """The resolved optimizer groups as text (printed at the start of training).

        Subclasses may say more (the rule, the modules in each group); this default lists each
        group's name, learning rate and parameter count.
        """
        lines = []
        for group in self.param_groups(lr, head_lr_mult):
            count = sum(p.numel() for p in group["params"])
            lines.append(f"  {group['name']:<10} lr={group['lr']:<10.4g} parameters={count:,}")
        return "\n".join(lines)
