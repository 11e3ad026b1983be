"""Maximally activating patches: for each channel of a layer, the image regions it likes most.

Over a whole data set (any iterable of batches), each image contributes its strongest unit per
channel (the spatial maximum); a running top-k keeps the best images per channel. A unit sees
only its receptive field, computed from the layers' kernels, strides, paddings and dilations
(:func:`wsol.viz.receptive_field.receptive_field`), so the patch is exactly that window of the
input image. Where the window reaches past the image border the patch holds zeros, the value
the network's zero padding feeds in (the mean colour for normalized inputs).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torchvision.utils import make_grid

from wsol.cams.hooks import LayerHooks
from wsol.viz.activations import evaluating
from wsol.viz.overlay import NEUTRAL_COLOR, add_caption, denormalize
from wsol.viz.panel import enlarge
from wsol.viz.receptive_field import Window, receptive_field


@dataclass
class ActivatingPatches:
    """The top-k units per channel over a data set (N channels, k entries, best first).

    Attributes:
        layer: the layer's module name.
        window: the receptive field of its units.
        channels: [N] channel indices.
        values: [N, k] activation of each entry's unit (-inf where fewer than k images).
        image_indices: [N, k] position of the image in the iteration order (-1: none).
        labels: [N, k] class of the image when the batches carry ``labels``, else -1.
        units: [N, k, 2] (y, x) of the unit in the layer's output.
        boxes: [N, k, 4] inclusive input box (x0, y0, x1, y1) of the unit, not clipped.
        patches: [N, k, 3, h, w] the boxes' pixels (input space; zeros outside the image).
    """

    layer: str
    window: Window
    channels: Tensor
    values: Tensor
    image_indices: Tensor
    labels: Tensor
    units: Tensor
    boxes: Tensor
    patches: Tensor


def batch_images(batch) -> tuple[Tensor, Tensor | None]:
    """(images, labels or None) of a batch: a wsol batch dict, an (images, labels) pair or a
    tensor."""
    if isinstance(batch, dict):
        return batch["images"], batch.get("labels")
    if isinstance(batch, (tuple, list)):
        return batch[0], (batch[1] if len(batch) > 1 else None)
    if isinstance(batch, Tensor):
        return batch, None
    raise TypeError(f"cannot find images in a batch of type {type(batch).__name__}")


def layer_outputs(
    model: nn.Module,
    layer: str,
    batches: Iterable,
    device: torch.device | str | None = None,
    max_batches: int | None = None,
) -> Iterator[tuple[Tensor, Tensor | None, Tensor]]:
    """``(images, labels, output of layer)`` per batch, the model in eval mode and hooked
    through :class:`LayerHooks` (mode restored and hooks removed when the loop ends).

    Args:
        device: where to run the model (default: the device of its first parameter).
        max_batches: stop after this many batches.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    with evaluating(model), LayerHooks(model, layer) as hooks:
        for number, batch in enumerate(batches):
            if max_batches is not None and number >= max_batches:
                break
            images, labels = batch_images(batch)
            hooks.reset()
            model(images.to(device))
            yield images, labels, hooks.outputs[layer]


def crop_window(image: Tensor, box: Sequence[int]) -> Tensor:
    """The inclusive box ``(x0, y0, x1, y1)`` of a [C, H, W] image; zeros outside the image."""
    x0, y0, x1, y1 = (int(v) for v in box)
    out = image.new_zeros(image.shape[0], y1 - y0 + 1, x1 - x0 + 1)
    height, width = image.shape[-2:]
    sy0, sy1 = max(y0, 0), min(y1, height - 1)
    sx0, sx1 = max(x0, 0), min(x1, width - 1)
    if sy0 <= sy1 and sx0 <= sx1:
        out[:, sy0 - y0 : sy1 - y0 + 1, sx0 - x0 : sx1 - x0 + 1] = image[
            :, sy0 : sy1 + 1, sx0 : sx1 + 1
        ]
    return out


@torch.no_grad()
def max_activating_patches(
    model: nn.Module,
    batches: Iterable,
    layer: str,
    channels: Sequence[int] | None = None,
    k: int = 9,
    device: torch.device | str | None = None,
    max_batches: int | None = None,
) -> ActivatingPatches:
    """The k strongest units per channel of ``layer`` over a data set, with their patches.

    Args:
        model: the network (run in eval mode; its mode is restored afterwards).
        batches: iterable of batches (see :func:`batch_images`), e.g. a DataLoader.
        layer: module name as in ``model.named_modules()``, running once per forward, with a
            [B, C, h, w] output.
        channels: channels to rank (default: all).
        k: entries per channel; one unit per image and channel (the image's maximum).
        device: where to run the model (default: the device of its first parameter).
        max_batches: stop after this many batches.

    Returns:
        :class:`ActivatingPatches`.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    window = receptive_field(model, layer)
    height, width = window.size
    state = None
    seen = 0
    for images, labels, output in layer_outputs(model, layer, batches, device, max_batches):
        if output.ndim != 4:
            raise ValueError(f"{layer!r} output is {tuple(output.shape)}, not [B, C, h, w]")
        if state is None:
            chosen = (
                torch.arange(output.shape[1])
                if channels is None
                else torch.as_tensor(list(channels), dtype=torch.long)
            )
            state = _empty(chosen, k, height, width, images.dtype)
        state = _merge(state, output, images.cpu(), labels, seen, window, k)
        seen += len(images)
    if state is None:
        raise ValueError("max_activating_patches: no batches")
    return ActivatingPatches(layer=layer, window=window, **state)


def _empty(channels: Tensor, k: int, height: int, width: int, dtype) -> dict:
    n = len(channels)
    return {
        "channels": channels,
        "values": torch.full((n, k), -math.inf),
        "image_indices": torch.full((n, k), -1, dtype=torch.long),
        "labels": torch.full((n, k), -1, dtype=torch.long),
        "units": torch.zeros(n, k, 2, dtype=torch.long),
        "boxes": torch.zeros(n, k, 4, dtype=torch.long),
        "patches": torch.zeros(n, k, 3, height, width, dtype=dtype),
    }


def _merge(state, output, images, labels, offset, window, k) -> dict:
    """Candidates of one batch (each image's maximum per channel) merged into the top-k."""
    acts = output[:, state["channels"].to(output.device)].float().cpu()  # [B, N, h, w]
    batch, n, _, out_w = acts.shape
    best, position = acts.flatten(2).max(dim=2)  # [B, N]
    values = torch.cat([state["values"], best.T], dim=1)  # [N, k + B]
    top_values, top = values.topk(k, dim=1)
    merged = {key: value.clone() for key, value in state.items()}
    merged["values"] = top_values
    for c in range(n):
        for slot, source in enumerate(top[c].tolist()):
            if source < k:  # an earlier entry (possibly moved to another slot)
                for key in ("image_indices", "labels", "units", "boxes", "patches"):
                    merged[key][c, slot] = state[key][c, source]
                continue
            b = source - k
            y, x = divmod(int(position[b, c]), out_w)
            box = window.box(y, x)
            merged["image_indices"][c, slot] = offset + b
            merged["labels"][c, slot] = int(labels[b]) if labels is not None else -1
            merged["units"][c, slot] = torch.tensor([y, x])
            merged["boxes"][c, slot] = torch.tensor(box)
            merged["patches"][c, slot] = crop_window(images[b], box)
    return merged


def patch_grid(
    result: ActivatingPatches,
    mean: Sequence[float],
    std: Sequence[float],
    scale: int = 2,
    captions: bool = True,
) -> Tensor:
    """One row per channel, its top-k patches left to right (best first).

    Args:
        result: from :func:`max_activating_patches`.
        mean, std: the input normalization (to turn patches back into pixels).
        scale: integer nearest-neighbour enlargement of each patch.
        captions: write ``ch <c>: <value>`` above each patch.

    Returns:
        uint8 [3, H, W]; empty entries (fewer images than k) are white.
    """
    n, k = result.values.shape
    tiles = []
    for c in range(n):
        for slot in range(k):
            if result.image_indices[c, slot] < 0:
                tile = torch.full((3, *result.patches.shape[-2:]), 255, dtype=torch.uint8)
            else:
                # Outside the image: zeros in input space, shown as the mean colour.
                tile = denormalize(result.patches[c, slot], mean, std)
            tile = enlarge(tile, scale)
            if captions:
                value = result.values[c, slot]
                text = f"ch {int(result.channels[c])}: {value:.2g}" if value > -math.inf else ""
                tile = add_caption(tile, [text], NEUTRAL_COLOR)
            tiles.append(tile)
    return make_grid(torch.stack(tiles), nrow=k, padding=2, pad_value=255)
