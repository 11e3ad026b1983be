"""The backbone contract: features, their channel count and stride, and its learning-rate rules."""

from __future__ import annotations

from torch import Tensor, nn

from wsol.models.param_rules import NewParamRule


class Backbone(nn.Module):
    """Base class of the WSOL backbones.

    Subclasses set the attributes below in ``__init__`` and implement ``forward``.

    Attributes:
        out_channels: C of the feature map.
        stride: input pixels per feature-map cell (224 px / stride 16 → 14x14).
        new_param_rule: parameters (names local to the backbone) that pretrained weights do not
            cover; the "clean" learning-rate rule trains them at the new-layer rate.
        we_new_param_rule: the rule the wsolevaluation code applied to its whole model (backbone
            names and its head names); the "we" learning-rate rule.
        torchvision_weights: torchvision weights enum name (``"VGG16_Weights.IMAGENET1K_V1"``) for
            ``pretrained=True``; None when there is none.
        head_width: default width of class-map heads on this backbone (ACoL branches): the
            papers' 1024 for VGG/ResNet; small for the CPU backbone, whose whole network would
            otherwise be dwarfed by its heads.
    """

    out_channels: int
    stride: int
    new_param_rule: NewParamRule = NewParamRule()
    we_new_param_rule: NewParamRule = NewParamRule()
    torchvision_weights: str | None = None
    head_width: int = 1024

    def forward(self, x: Tensor) -> Tensor:
        """Args: x: [B, 3, H, W] normalized images. Returns: features [B, C, H/stride, W/stride]."""
        raise NotImplementedError

    def adapt_state_dict(self, state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
        """Rename/drop keys of a torchvision-format state dict so they match this module.

        The default keeps every key; subclasses drop classifier keys and re-index layers.
        """
        return dict(state_dict)

    def describe_lr_rules(self) -> str:
        """Printable statement of both learning-rate rules of this backbone."""
        return (
            f"{type(self).__name__}: clean rule {self.new_param_rule} (not pretrained); "
            f"WE rule {self.we_new_param_rule} (on WE's layer names)"
        )

    def extra_repr(self) -> str:
        return (
            f"out_channels={self.out_channels}, stride={self.stride}, "
            f"clean: {self.new_param_rule}, we: {self.we_new_param_rule}"
        )
