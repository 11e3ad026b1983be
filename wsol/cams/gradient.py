"""The Grad-CAM family: maps from a layer's activations A and the class score's gradients dy/dA.

All four run one forward and one backward pass for the whole batch (each image's own class
score; images do not interact in eval mode). The forward pass records the autograd graph only
from the target layer on (`graph_from`): the layers before it need no gradient, and the
backward pass stops at the target layer. Notation: A_k [h, w] is channel k of the target
layer's output, g_k = dy_c / dA_k, sums run over the h x w positions. No epsilon is added
anywhere: a zero denominator gives a zero weight, so the maps do not depend on the scale of
A or g (the peers add 1e-6 or 1e-7, which dominates when the denominators are small).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from wsol.cams.extractors import Extractor, class_scores, logits_of
from wsol.cams.hooks import LayerHooks, resolve_modules


def safe_ratio(numerator: Tensor, denominator: Tensor) -> Tensor:
    """numerator / denominator, and 0 where the denominator is 0."""
    nonzero = denominator != 0
    return torch.where(nonzero, numerator / torch.where(nonzero, denominator, 1), 0)


@contextmanager
def graph_from(module: nn.Module) -> Iterator[None]:
    """Forward passes in this block record the autograd graph only from ``module``'s output on.

    Gradients are off until ``module`` has run; a forward hook placed before every other hook
    of the module turns them on, so a `LayerHooks` capture of that module (``backward=True``)
    keeps its output as a leaf that requires grad. Gradients with respect to that output are
    the same as with the whole graph recorded; the layers before it just keep no activations
    for a backward pass that never reaches them. The gradient mode in force before the block
    is restored after it.
    """
    previous = torch.is_grad_enabled()

    def restore(*_) -> None:
        torch.set_grad_enabled(previous)  # as a function: from here on (returns no new output)

    handle = module.register_forward_hook(restore, prepend=True)
    try:
        with torch.set_grad_enabled(False):
            yield
    finally:
        handle.remove()
        torch.set_grad_enabled(previous)


def _weighted_sum(weights: Tensor, activations: Tensor) -> Tensor:
    """ReLU(sum_k w_k A_k): [B, C] weights, [B, C, h, w] activations → [B, h, w]."""
    return torch.einsum("bc,bchw->bhw", weights, activations).clamp(min=0)


class LayerExtractor(Extractor):
    """An extractor reading one named layer, whose output must be [B, C, h, w].

    Args:
        model: the classifier.
        target_layer: module name as in ``model.named_modules()`` (``"layer4"``,
            ``"features.28"``). Exactly this module's output is explained, also when an
            in-place ReLU follows it; a module that runs more than once per forward pass is
            an error.
        eval_mode: see :class:`Extractor`.
    """

    def __init__(self, model: nn.Module, target_layer: str, eval_mode: bool = True) -> None:
        super().__init__(model, eval_mode)
        resolve_modules(model, target_layer)
        self.target_layer = target_layer

    def _activations_and_gradients(self, images: Tensor, class_ids: Tensor) -> tuple[Tensor, ...]:
        """A [B, C, h, w] and dy_c/dA of each image's class (one forward, one backward)."""
        layer = resolve_modules(self.model, self.target_layer)[self.target_layer]
        with LayerHooks(self.model, self.target_layer, backward=True) as hooks:
            with graph_from(layer):
                logits = logits_of(self.model(images))
            scores = class_scores(logits, class_ids)
            grads = hooks.grads_of(scores.sum())[self.target_layer]
            activations = hooks.outputs[self.target_layer].detach()
        return self._check_maps(activations), grads

    def _check_maps(self, activations: Tensor) -> Tensor:
        if activations.ndim != 4:
            raise ValueError(
                f"target_layer {self.target_layer!r} gives shape {tuple(activations.shape)}; "
                "it must be a [B, C, h, w] feature map"
            )
        return activations

    def __repr__(self) -> str:
        return f"{type(self).__name__}({type(self.model).__name__}, {self.target_layer!r})"


class _GradientCAM(LayerExtractor):
    """Shared driver: activations + gradients → `combine`."""

    def _explain(self, images: Tensor, class_ids: Tensor) -> Tensor:
        return self.combine(*self._activations_and_gradients(images, class_ids))

    @staticmethod
    def combine(activations: Tensor, grads: Tensor) -> Tensor:
        """[B, C, h, w] activations and gradients → [B, h, w] map."""
        raise NotImplementedError


class GradCAM(_GradientCAM):
    """Grad-CAM (Selvaraju et al., ICCV 2017).

    ``w_k = mean_ij g_k[i, j]``; ``map = ReLU(sum_k w_k A_k)``. On a GAP + linear classifier
    with the target at the pooled features this is ReLU(CAM) / (h w), the identity of the paper.
    """

    @staticmethod
    def combine(activations: Tensor, grads: Tensor) -> Tensor:
        return _weighted_sum(grads.mean(dim=(2, 3)), activations)


class GradCAMPlusPlus(_GradientCAM):
    """Grad-CAM++ (Chattopadhay et al., WACV 2018), the closed form with an exponential score.

    ``alpha_k[i, j] = g^2 / (2 g^2 + (sum_ab A_k[a, b]) g^3)`` (0 where the denominator is 0),
    ``w_k = sum_ij alpha_k[i, j] ReLU(g_k[i, j])``, ``map = ReLU(sum_k w_k A_k)``.
    pytorch-grad-cam adds 1e-6 to the denominator (often larger than the denominator itself);
    torchcam never divides by it. This follows the paper.
    """

    @staticmethod
    def combine(activations: Tensor, grads: Tensor) -> Tensor:
        grads_2 = grads.pow(2)
        total = activations.sum(dim=(2, 3), keepdim=True)
        alpha = safe_ratio(grads_2, 2 * grads_2 + total * grads_2 * grads)
        return _weighted_sum((alpha * grads.clamp(min=0)).sum(dim=(2, 3)), activations)


class XGradCAM(_GradientCAM):
    """XGrad-CAM (Fu et al., BMVC 2020).

    ``w_k = sum_ij (A_k[i, j] / sum_ab A_k[a, b]) g_k[i, j]`` (0 where the channel sums to 0),
    ``map = ReLU(sum_k w_k A_k)``.
    """

    @staticmethod
    def combine(activations: Tensor, grads: Tensor) -> Tensor:
        weights = safe_ratio((activations * grads).sum(dim=(2, 3)), activations.sum(dim=(2, 3)))
        return _weighted_sum(weights, activations)


class LayerCAM(_GradientCAM):
    """Layer-CAM (Jiang et al., IEEE TIP 2021).

    Position-wise weights: ``map = ReLU(sum_k ReLU(g_k) * A_k)``.
    """

    @staticmethod
    def combine(activations: Tensor, grads: Tensor) -> Tensor:
        return (grads.clamp(min=0) * activations).sum(dim=1).clamp(min=0)
