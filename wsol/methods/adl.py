"""ADL, Attention-based Dropout Layer (Choe & Shim, CVPR 2019), inserted after chosen stages.

The layer has no parameters. In training, on features F [B, C, h, w]:

- attention A = the channel mean of F, [B, 1, h, w];
- one draw per batch (per layer): with probability ``drop_prob`` the map is the drop mask
  ``[A < gamma * max(A)]`` (max over space, per image), which hides the most active region;
  otherwise it is the importance map ``sigmoid(A)``, which highlights it;
- output F * map (broadcast over channels). The map is not detached (as in the paper).

At evaluation the layer is the identity. The method is CAM with ADL layers after the backbone
stages named in ``stages`` (:meth:`wsol.models.base.Backbone.forward_stages`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from wsol.methods.cam import CAMMethod
from wsol.methods.outputs import MethodOutput
from wsol.models.base import Backbone


def adl_maps(features: Tensor, gamma: float) -> tuple[Tensor, Tensor]:
    """The two candidate maps of ADL.

    Args:
        features: [B, C, h, w].
        gamma: drop threshold as a fraction of each image's attention maximum.

    Returns:
        (drop mask [B, 1, h, w] in {0, 1}: 1 where attention < gamma * max,
        importance map [B, 1, h, w]: sigmoid of the attention).
    """
    attention = features.mean(dim=1, keepdim=True)
    peak = attention.amax(dim=(2, 3), keepdim=True)
    drop_mask = (attention < gamma * peak).to(features.dtype)
    return drop_mask, torch.sigmoid(attention)


class ADLayer(nn.Module):
    """Parameter-free attention-based dropout (see the module docstring).

    Args:
        drop_prob: probability that a batch gets the drop mask (the paper: 0.75).
        gamma: drop threshold relative to the attention maximum (the paper: 0.9).

    Attributes:
        dropped: whether the last training batch got the drop mask (None before one ran).
        **cam_options: ``head``, ``lr_rule`` of :class:`CAMMethod`.
    """

    def __init__(self, drop_prob: float = 0.75, gamma: float = 0.9):
        super().__init__()
        if not 0.0 <= drop_prob <= 1.0:
            raise ValueError(f"drop_prob must be in [0, 1], got {drop_prob}")
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], got {gamma}")
        self.drop_prob, self.gamma = float(drop_prob), float(gamma)
        self.dropped: bool | None = None

    def forward(self, features: Tensor) -> Tensor:
        """Args: features: [B, C, h, w]. Returns: the same shape (identity in evaluation)."""
        if not self.training:
            return features
        drop_mask, importance = adl_maps(features, self.gamma)
        self.dropped = bool(torch.rand(()) < self.drop_prob)  # one draw for the whole batch
        return features * (drop_mask if self.dropped else importance)

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob}, gamma={self.gamma}"


class ADLMethod(CAMMethod):
    """CAM with an :class:`ADLayer` after each of the named backbone stages.

    Args:
        backbone, num_classes: as :class:`CAMMethod`.
        stages: backbone stage names (``backbone.stage_names``) followed by an ADL layer.
        drop_prob: probability of the drop mask per batch and layer (the paper: 0.75).
        gamma: drop threshold relative to the attention maximum (the paper: 0.9).
    """

    def __init__(
        self,
        backbone: Backbone,
        num_classes: int,
        stages: Sequence[str] = ("stage3", "final"),
        drop_prob: float = 0.75,
        gamma: float = 0.9,
        **cam_options,
    ):
        super().__init__(backbone, num_classes, **cam_options)
        stages = list(stages)
        unknown = [name for name in stages if name not in backbone.stage_names]
        if not stages or unknown:
            raise ValueError(
                f"method.stages must name stages of {type(backbone).__name__} "
                f"({', '.join(backbone.stage_names)}); got {stages}"
            )
        self.adl = nn.ModuleDict({name: ADLayer(drop_prob, gamma) for name in stages})

    def features(self, images: Tensor) -> Tensor:
        """[B, C, h, w] features with ADL applied after the chosen stages (in training)."""
        outputs = self.backbone.forward_stages(images, after=self.adl)
        return outputs[self.backbone.stage_names[-1]]

    def forward(self, images: Tensor, labels: Tensor | None = None) -> MethodOutput:
        """As CAM; in training ``aux["adl_dropped"]`` [L] bool says which layers dropped."""
        output = super().forward(images, labels)
        if self.training:
            dropped = [bool(layer.dropped) for layer in self.adl.values()]
            output.aux["adl_dropped"] = torch.tensor(dropped)
        return output

    def extra_scalars(self, output: MethodOutput) -> dict[str, Tensor]:
        """``adl_drop_share``: share of the ADL layers that drew the drop mask in the batch."""
        if "adl_dropped" not in output.aux:
            return {}
        return {"adl_drop_share": output.aux["adl_dropped"].float().mean()}
