"""Input-gradient maps: saliency, SmoothGrad, guided backpropagation, deconvnet, guided Grad-CAM.

Each class gives `attributions` [B, C, H, W] (a gradient image) and, as its map, the largest
absolute value over the color channels (Simonyan et al.). Guided backpropagation and deconvnet
change the backward pass of every ``nn.ReLU`` module (functional ReLUs are not seen) for the
duration of one call. Guided backpropagation only adds a gradient hook to each ReLU output
(``ReLU(grad)``; the ReLU's own backward then applies ``[x > 0]``), so the forward pass is the
model's own. Deconvnet must drop that mask: a forward pre-hook keeps the ReLU's input (an
in-place ReLU then works on a copy) and the forward hook returns a ReLU of that input whose
backward applies the rule.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from wsol.cams.extractors import Extractor, class_scores, logits_of
from wsol.cams.gradient import GradCAM
from wsol.cams.hooks import HookSet
from wsol.cams.pipeline import scoremaps


class _DeconvReLU(torch.autograd.Function):
    """ReLU whose backward passes ``ReLU(grad)`` whatever the input (deconvnet)."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        return grad.clamp(min=0)


GUIDED = "guided"


def _relus(model: nn.Module) -> list[nn.ReLU]:
    relus = [module for module in model.modules() if isinstance(module, nn.ReLU)]
    if not relus:
        raise ValueError(
            f"{type(model).__name__} has no nn.ReLU module: guided backpropagation and deconvnet "
            "rewrite the backward pass of nn.ReLU modules only"
        )
    return relus


def _guided_hooks(model: nn.Module, hooks: HookSet) -> None:
    """Guided backpropagation at every ``nn.ReLU`` of ``model`` (until ``hooks`` are removed).

    ``dL/dx = ReLU(dL/dy) * [x > 0]``: a hook on the ReLU output's gradient applies the ReLU,
    the module's own backward the mask (``[y > 0]`` = ``[x > 0]``). Nothing is copied or kept
    besides what autograd keeps anyway; a module called several times gets a hook per call.
    """

    def hook(module: nn.Module, args: tuple, output: Tensor) -> None:
        if isinstance(output, Tensor) and output.requires_grad:
            output.register_hook(_positive)

    for relu in _relus(model):
        hooks.add(relu.register_forward_hook(hook))


def _positive(grad: Tensor) -> Tensor:
    return grad.clamp(min=0)


def _relu_rule_hooks(model: nn.Module, rule: type[torch.autograd.Function], hooks: HookSet) -> None:
    """Make every ``nn.ReLU`` of ``model`` compute ``rule`` (until ``hooks`` are removed)."""
    relus = _relus(model)
    inputs: dict[nn.Module, list[Tensor]] = {}

    def keep_input(module: nn.Module, args: tuple) -> tuple | None:
        inputs.setdefault(module, []).append(args[0])
        return (args[0].clone(), *args[1:]) if module.inplace else None

    def replace_output(module: nn.Module, args: tuple, output: Tensor) -> Tensor:
        return rule.apply(inputs[module].pop())

    for relu in relus:
        hooks.add(relu.register_forward_pre_hook(keep_input))
        hooks.add(relu.register_forward_hook(replace_output))


class Saliency(Extractor):
    """Gradient saliency (Simonyan et al., ICLR Workshops 2014).

    ``attributions = |dy_c / dx|``; ``map = max over color channels``.
    """

    #: How ReLUs backpropagate: their own rule (None), `GUIDED`, or an autograd Function
    #: replacing them (deconvnet).
    rule: str | type[torch.autograd.Function] | None = None

    def attributions(self, images: Tensor, class_ids: Tensor) -> Tensor:
        """[B, C, H, W] input attributions (no gradient attached)."""
        return self._run(self._attributions, images, class_ids)

    def _explain(self, images: Tensor, class_ids: Tensor) -> Tensor:
        return self._attributions(images, class_ids).abs().amax(dim=1)

    def _attributions(self, images: Tensor, class_ids: Tensor) -> Tensor:
        return self._input_gradients(images, class_ids).abs()

    def _input_gradients(self, images: Tensor, class_ids: Tensor) -> Tensor:
        x = images.detach().requires_grad_(True)
        with HookSet() as hooks:
            if self.rule == GUIDED:
                _guided_hooks(self.model, hooks)
            elif self.rule is not None:
                _relu_rule_hooks(self.model, self.rule, hooks)
            scores = class_scores(logits_of(self.model(x)), class_ids)
            (grads,) = torch.autograd.grad(scores.sum(), x)
        return grads


class GuidedBackprop(Saliency):
    """Guided backpropagation (Springenberg et al., ICLR Workshops 2015).

    At every ReLU the backward pass keeps only positive gradients at positive inputs:
    ``dL/dx = ReLU(dL/dy) * [x > 0]``. ``attributions`` are the signed input gradients.
    """

    rule = GUIDED

    def _attributions(self, images: Tensor, class_ids: Tensor) -> Tensor:
        return self._input_gradients(images, class_ids)


class Deconvnet(GuidedBackprop):
    """Deconvnet (Zeiler and Fergus, ECCV 2014), as a backward pass.

    At every ReLU only the sign of the gradient counts: ``dL/dx = ReLU(dL/dy)``.
    """

    rule = _DeconvReLU


class SmoothGrad(Saliency):
    """SmoothGrad (Smilkov et al., 2017) of the gradient saliency.

    ``attributions = mean over n samples of |dy_c/dx (x + e)|`` with
    ``e ~ N(0, (noise_level * (max(x) - min(x)))^2)`` per image.

    Args:
        model, eval_mode: see :class:`Extractor`.
        samples: n.
        noise_level: noise standard deviation as a fraction of each image's value range.
        batch_size: noisy images per forward pass.
        seed: the noise generator's seed (the maps are reproducible).
    """

    def __init__(
        self,
        model: nn.Module,
        samples: int = 25,
        noise_level: float = 0.15,
        batch_size: int = 32,
        seed: int = 0,
        eval_mode: bool = True,
    ) -> None:
        super().__init__(model, eval_mode)
        if int(samples) < 1 or int(batch_size) < 1 or noise_level < 0:
            raise ValueError("samples and batch_size must be >= 1 and noise_level >= 0")
        self.samples, self.noise_level = int(samples), float(noise_level)
        self.batch_size, self.seed = int(batch_size), int(seed)

    def _attributions(self, images: Tensor, class_ids: Tensor) -> Tensor:
        generator = torch.Generator(device=images.device).manual_seed(self.seed)
        flat = images.flatten(1)
        sigma = self.noise_level * (flat.amax(dim=1) - flat.amin(dim=1))
        total = torch.zeros_like(images)
        per_pass = max(1, self.batch_size // len(images))
        for start in range(0, self.samples, per_pass):
            count = min(per_pass, self.samples - start)
            noise = torch.randn(
                (count, *images.shape), generator=generator, device=images.device
            ).to(images.dtype)
            noisy = (images + noise * sigma.view(1, -1, 1, 1, 1)).flatten(0, 1)
            # NHWC like the input (`prepare_images`): the broadcast sum came out NCHW.
            noisy = noisy.contiguous(memory_format=torch.channels_last)
            grads = self._input_gradients(noisy, class_ids.repeat(count))
            total += grads.abs().view(count, *images.shape).sum(dim=0)
        return total / self.samples


class GuidedGradCAM(GuidedBackprop):
    """Guided Grad-CAM (Selvaraju et al., ICCV 2017).

    ``attributions = GuidedBackprop(x) * up(GradCAM)``, with the Grad-CAM map taken to the
    input size by the one CAM pipeline (bicubic, min-max to [0, 1]).

    Args:
        model, eval_mode: see :class:`Extractor`.
        target_layer: Grad-CAM's layer.
    """

    def __init__(self, model: nn.Module, target_layer: str, eval_mode: bool = True) -> None:
        super().__init__(model, eval_mode)
        self.gradcam = GradCAM(model, target_layer, eval_mode)

    def _attributions(self, images: Tensor, class_ids: Tensor) -> Tensor:
        coarse = self.gradcam._explain(images, class_ids).detach()
        weights, _ = scoremaps(coarse, tuple(images.shape[-2:]))
        return super()._attributions(images, class_ids) * weights[:, None].to(images.dtype)
