"""Class model visualization: the input image that a class's score likes most.

Gradient ascent on the input (Simonyan, Vedaldi and Zisserman, "Deep Inside Convolutional
Networks", ICLR workshop 2014) maximizes ``S_c(x) - λ ||x||²``, the class's unnormalized score
with an L2 penalty, from a blank (zero: the data set's mean colour) or random start. Without
more regularization the result is high-frequency noise; as in Yosinski et al. ("Understanding
Neural Networks Through Deep Visualization", ICML workshop 2015) every step scores a randomly
shifted copy of the image (jitter) and the image is Gaussian-blurred every few steps.

The model's parameters are not trained: under the extractors' guard
(:func:`wsol.cams.extractors.explaining`) gradients are enabled locally (also inside
``torch.no_grad()`` or ``torch.inference_mode()``) and the model runs in eval mode; gradients
are taken with ``torch.autograd.grad`` with respect to the image only, so the training flags,
``requires_grad`` flags and parameter ``.grad`` are as before afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torchvision.transforms.functional import gaussian_blur
from torchvision.utils import make_grid

from wsol.cams.extractors import explaining, logits_of
from wsol.viz.overlay import NEUTRAL_COLOR, add_caption, denormalize
from wsol.viz.panel import class_name, enlarge

INITS = ("blank", "random")


@dataclass
class ClassVisualization:
    """Result of :func:`class_model_visualization`.

    Attributes:
        image: float [3, H, W], in the model's (normalized) input space.
        scores: [steps + 1] the class score of the un-jittered image before each step and at
            the end (``scores[-1]`` is the final image's).
        class_id: the visualized class.
    """

    image: Tensor
    scores: Tensor
    class_id: int

    def to_uint8(self, mean: Sequence[float], std: Sequence[float]) -> Tensor:
        """uint8 [3, H, W] for display, after undoing the input normalization."""
        return denormalize(self.image, mean, std)


def _score(model: nn.Module, image: Tensor, class_id: int, logits_fn: Callable) -> Tensor:
    return logits_fn(model(image.unsqueeze(0)))[0, class_id]


def class_model_visualization(
    model: nn.Module,
    class_id: int,
    image_size: tuple[int, int],
    steps: int = 100,
    lr: float = 0.1,
    l2: float = 1e-3,
    jitter: int = 4,
    blur_every: int = 10,
    blur_sigma: float = 0.5,
    init: str = "blank",
    init_std: float = 0.1,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    seed: int = 0,
    logits_fn: Callable = logits_of,
) -> ClassVisualization:
    """Gradient ascent on the input image towards one class.

    Args:
        model: classifier taking [B, 3, H, W] normalized images; its output goes through
            ``logits_fn`` (default: a logits tensor or ``output.logits``).
        class_id: class whose score is maximized.
        image_size: (H, W) of the optimized image.
        steps: Adam steps on the image.
        lr: Adam learning rate (in normalized input units).
        l2: λ of the L2 penalty ``λ ||x||²`` on the normalized image.
        jitter: each step scores the image rolled by up to this many pixels in x and y.
        blur_every: Gaussian blur (3x3, ``blur_sigma``) every this many steps; 0 disables it.
        blur_sigma: standard deviation of that blur, in pixels.
        init: ``"blank"`` (zeros: the mean colour) or ``"random"`` (N(0, init_std²)). From a
            uniform image some classes may see no active unit at all (zero gradient: the
            score never moves); a random start avoids that.
        init_std: standard deviation of the random start (normalized input units).
        mean, std: the input normalization; when given, the image is kept inside the range
            of real pixels, [(0 - mean) / std, (1 - mean) / std], after every step.
        seed: seeds the random start and the jitter (a local generator; global RNG untouched).
        logits_fn: output → logits [B, K].

    Returns:
        :class:`ClassVisualization` with the image and the score trajectory.
    """
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    height, width = (int(s) for s in image_size)
    scores = []
    # Tensors made under an enclosing inference_mode could never require grad: make them here.
    with explaining(model):
        if init == "random":
            start = torch.randn(3, height, width, generator=generator) * init_std
        else:
            start = torch.zeros(3, height, width)
        low = high = None
        if mean is not None and std is not None:
            m = torch.tensor(list(mean), dtype=torch.float32).view(3, 1, 1)
            s = torch.tensor(list(std), dtype=torch.float32).view(3, 1, 1)
            low, high = ((0 - m) / s).to(device), ((1 - m) / s).to(device)
        image = start.to(device).requires_grad_(True)
        optimizer = torch.optim.Adam([image], lr=lr)
        for step in range(steps):
            with torch.no_grad():
                scores.append(float(_score(model, image, class_id, logits_fn)))
            dy, dx = (int(v) for v in torch.randint(-jitter, jitter + 1, (2,), generator=generator))
            shifted = torch.roll(image, shifts=(dy, dx), dims=(1, 2))
            objective = _score(model, shifted, class_id, logits_fn) - l2 * image.pow(2).sum()
            (gradient,) = torch.autograd.grad(objective, image)
            image.grad = -gradient  # Adam minimizes
            optimizer.step()
            with torch.no_grad():
                if blur_every and (step + 1) % blur_every == 0:
                    image.copy_(gaussian_blur(image.unsqueeze(0), [3, 3], [blur_sigma])[0])
                if low is not None:
                    image.copy_(torch.maximum(torch.minimum(image, high), low))
        with torch.no_grad():
            scores.append(float(_score(model, image, class_id, logits_fn)))
    return ClassVisualization(image.detach().cpu(), torch.tensor(scores), int(class_id))


def class_visualization_grid(
    results: Sequence[ClassVisualization],
    mean: Sequence[float],
    std: Sequence[float],
    class_names: Sequence[str] | None = None,
    scale: int = 2,
) -> Tensor:
    """The visualizations side by side, captioned with the class and its final score.

    Returns:
        uint8 [3, H, W].
    """
    if not results:
        raise ValueError("class_visualization_grid needs at least one result")
    tiles = [
        add_caption(
            enlarge(result.to_uint8(mean, std), scale),
            [class_name(result.class_id, class_names), f"score {float(result.scores[-1]):.3g}"],
            NEUTRAL_COLOR,
        )
        for result in results
    ]
    return make_grid(torch.stack(tiles), nrow=len(tiles), padding=2, pad_value=255)
