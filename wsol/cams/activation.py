"""Maps from a layer's activations without gradients: CAM and Score-CAM."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wsol.cams.extractors import class_scores, logits_of
from wsol.cams.gradient import LayerExtractor
from wsol.cams.hooks import LayerHooks, resolve_modules
from wsol.cams.normalize import minmax_normalize

SCORE_WEIGHTINGS = ("channel_softmax", "class_probability")


class _ActivationExtractor(LayerExtractor):
    def _activations(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """Target-layer output [B, C, h, w] and logits [B, K] of one gradient-free pass."""
        with torch.inference_mode(), LayerHooks(self.model, self.target_layer) as hooks:
            logits = logits_of(self.model(images))
            activations = hooks.outputs[self.target_layer]
        return self._check_maps(activations), logits


class CAM(_ActivationExtractor):
    """Class activation mapping (Zhou et al., CVPR 2016) of a GAP + linear classifier.

    ``map = sum_k w[c, k] A_k`` with ``w`` the weight of the linear layer that follows global
    average pooling (the bias, a constant shift, is left out; no ReLU, as in the paper).

    Args:
        model: the classifier.
        target_layer: the layer whose output is pooled (``"layer4"`` of a ResNet).
        fc_layer: the linear classifier (``"fc"``): ``nn.Linear`` or a 1x1 ``nn.Conv2d`` with a
            [K, C] weight.
    """

    def __init__(
        self, model: nn.Module, target_layer: str, fc_layer: str = "fc", eval_mode: bool = True
    ) -> None:
        super().__init__(model, target_layer, eval_mode)
        self.fc_layer = fc_layer
        weight = getattr(resolve_modules(model, fc_layer)[fc_layer], "weight", None)
        if (
            not isinstance(weight, Tensor)
            or weight.ndim not in (2, 4)
            or weight[0].numel() != (weight.shape[1])
        ):
            raise ValueError(
                f"fc_layer {fc_layer!r} must be a linear (or 1x1 conv) layer with a [K, C] weight"
            )

    def _explain(self, images: Tensor, class_ids: Tensor) -> Tensor:
        activations, logits = self._activations(images)
        class_scores(logits, class_ids)  # checks the ids
        modules = dict(self.model.named_modules())
        weight = modules[self.fc_layer].weight.detach().flatten(1)
        if weight.shape[1] != activations.shape[1]:
            raise ValueError(
                f"fc_layer {self.fc_layer!r} takes {weight.shape[1]} channels but target_layer "
                f"{self.target_layer!r} gives {activations.shape[1]}"
            )
        return torch.einsum("bc,bchw->bhw", weight[class_ids].to(activations.dtype), activations)


class ScoreCAM(_ActivationExtractor):
    """Score-CAM (Wang et al., CVPR Workshops 2020).

    Each channel A_k, upsampled bilinearly to the input and min-max normalized to
    ``H_k in [0, 1]``, masks the image; ``s_k = y_c(X * H_k)`` is the class logit of the masked
    image. ``map = ReLU(sum_k w_k A_k)`` with, by ``weighting``:

    - ``"channel_softmax"`` (default; pytorch-grad-cam and torchcam): ``w = softmax_k(s)``;
    - ``"class_probability"`` (the authors' code): ``w_k`` = the class probability
      ``softmax(y(X * H_k))_c``, and 0 for a constant channel (the authors skip it).

    A constant channel gives an all-zero mask (the peers divide 0 by an epsilon). The masked
    forwards run under ``inference_mode`` with no feature hook, in chunks of ``batch_size``
    (image, channel) pairs; the all-zero masks of an image share one forward pass.

    Args:
        model, target_layer, eval_mode: see :class:`LayerExtractor`.
        batch_size: masked images per forward pass.
        weighting: ``"channel_softmax"`` or ``"class_probability"``.
    """

    def __init__(
        self,
        model: nn.Module,
        target_layer: str,
        batch_size: int = 32,
        weighting: str = "channel_softmax",
        eval_mode: bool = True,
    ) -> None:
        super().__init__(model, target_layer, eval_mode)
        if weighting not in SCORE_WEIGHTINGS:
            raise ValueError(f"weighting must be one of {SCORE_WEIGHTINGS}, got {weighting!r}")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = int(batch_size)
        self.weighting = weighting

    def _score(self, images: Tensor, class_ids: Tensor) -> Tensor:
        logits = logits_of(self.model(images))
        if self.weighting == "class_probability":
            logits = logits.softmax(dim=1)
        return class_scores(logits, class_ids)

    def _explain(self, images: Tensor, class_ids: Tensor) -> Tensor:
        activations, logits = self._activations(images)
        class_scores(logits, class_ids)  # checks the ids
        batch, channels = activations.shape[:2]
        flat = activations.flatten(2)
        varying = (flat.amax(dim=2) > flat.amin(dim=2)).flatten()
        with torch.inference_mode():
            scores = self._score(torch.zeros_like(images), class_ids)[:, None].repeat(1, channels)
            scores = scores.flatten()
            pairs = varying.nonzero().squeeze(1)
            for chunk in pairs.split(self.batch_size):
                index, channel = chunk // channels, chunk % channels
                masks = F.interpolate(
                    activations[index, channel][:, None],
                    size=images.shape[-2:],
                    mode="bilinear",
                    align_corners=False,
                )
                masks = minmax_normalize(masks)[0]
                # NHWC: about 1.35x faster CPU convolutions than NCHW (resnet50, 112 px).
                masked = (images[index] * masks).contiguous(memory_format=torch.channels_last)
                scores[chunk] = self._score(masked, class_ids[index])
            scores = scores.view(batch, channels)
            if self.weighting == "channel_softmax":
                weights = scores.softmax(dim=1)
            else:
                weights = torch.where(varying.view(batch, channels), scores, 0)
        return torch.einsum("bc,bchw->bhw", weights, activations).clamp(min=0)
