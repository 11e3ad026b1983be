"""ADL, Attention-based Dropout Layer (Choe & Shim, CVPR 2019), inserted after chosen stages.

The layer has no parameters. In training, on features F [B, C, h, w]:

- attention A = the channel mean of F, [B, 1, h, w];
- one draw per batch (per layer): with probability ``drop_prob`` the map is the drop mask
  ``[A < gamma * max(A)]`` (max over space, per image), which hides the most active region;
  otherwise it is the importance map ``sigmoid(A)``, which highlights it;
- output F * map (broadcast over channels). The map is not detached (as in the paper).

At evaluation the layer is the identity. The method is CAM with ADL layers at the named
positions of the backbone contract (:meth:`wsol.models.base.Backbone.forward_stages`), or inside
a head that names positions, as the benchmark (clovaai/wsolevaluation ``wsol/vgg.py``,
``resnet.py``, ``inception.py``) places them: ``adl_positions`` of configs/backbone/*.yaml.
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


#: Prefix of the position names that lie inside the method's head (``head.conv2``).
HEAD_PREFIX = "head."


class ADLMethod(CAMMethod):
    """CAM with an :class:`ADLayer` at each of the named positions.

    The positions are points of the backbone contract (any name ``backbone.resolve`` takes:
    ``stage3``, ``final``, ``last-1``, ``conv4_3``, ``layer3.0`` ...; the backbone configs give
    the benchmark's as ``adl_positions``) or ``head.<position>`` inside a head that names
    positions (:class:`~wsol.models.heads.ClassMapHead`: ``head.conv2`` is where the benchmark
    puts its third InceptionV3 ADL).

    Args:
        backbone, num_classes: as :class:`CAMMethod`.
        positions: where the ADL layers sit (one layer each, in running order or not).
        drop_prob: probability of the drop mask per batch and layer (the benchmark's
            ``adl_drop_rate`` 0.75).
        gamma: drop threshold relative to the attention maximum (the benchmark's
            ``adl_threshold`` 0.9).
        stages: the earlier name of ``positions`` (configs stored in older checkpoints); giving
            both is an error.
        **cam_options: ``head``, ``lr_rule`` of :class:`CAMMethod`.
    """

    def __init__(
        self,
        backbone: Backbone,
        num_classes: int,
        positions: Sequence[str] = ("stage3", "final"),
        drop_prob: float = 0.75,
        gamma: float = 0.9,
        stages: Sequence[str] | None = None,
        **cam_options,
    ):
        super().__init__(backbone, num_classes, **cam_options)
        if stages is not None:
            if tuple(positions) != ("stage3", "final"):
                raise ValueError("method.stages is the old name of method.positions: give one")
            positions = stages
        positions = [str(name) for name in positions]
        if not positions:
            raise ValueError("method.positions: name at least one position for ADL")
        in_head = [name[len(HEAD_PREFIX) :] for name in positions if name.startswith(HEAD_PREFIX)]
        in_backbone = [name for name in positions if not name.startswith(HEAD_PREFIX)]
        try:
            points = [backbone.resolve(name).name for name in in_backbone] + in_head
            if len(set(points)) != len(points):
                raise ValueError(f"a point is named twice (as {points})")
            if in_head:
                if not hasattr(self.head, "check_positions"):
                    raise ValueError(f"{type(self.head).__name__} names no positions")
                self.head.check_positions(in_head)
        except ValueError as error:
            raise ValueError(f"method.positions={positions}: {error}") from error
        self.positions = tuple(positions)
        self.adl = nn.ModuleList(ADLayer(drop_prob, gamma) for _ in positions)

    def _layers(self, in_head: bool) -> dict[str, nn.Module]:
        return {
            name[len(HEAD_PREFIX) :] if in_head else name: layer
            for name, layer in zip(self.positions, self.adl, strict=True)
            if name.startswith(HEAD_PREFIX) is in_head
        }

    def features(self, images: Tensor) -> Tensor:
        """[B, C, h, w] features with ADL applied at the backbone positions (in training)."""
        return self.backbone.forward_stages(images, after=self._layers(False))["final"]

    def forward(self, images: Tensor, labels: Tensor | None = None) -> MethodOutput:
        """As CAM; in training ``aux["adl_dropped"]`` [L] bool says which layers dropped."""
        maps, logits = self.head(
            self.features(images), return_maps=True, after=self._layers(True) or None
        )
        output = MethodOutput(logits=logits, class_maps=maps)
        if self.training:
            dropped = [bool(layer.dropped) for layer in self.adl]
            output.aux["adl_dropped"] = torch.tensor(dropped)
        return output

    def extra_scalars(self, output: MethodOutput) -> dict[str, Tensor]:
        """``adl_drop_share``: share of the ADL layers that drew the drop mask in the batch."""
        if "adl_dropped" not in output.aux:
            return {}
        return {"adl_drop_share": output.aux["adl_dropped"].float().mean()}

    def extra_repr(self) -> str:
        return f"positions={list(self.positions)}"
