"""The CAM heatmap panel: one captioned tile (or row of tiles) per image, as one grid image.

Per image, the main tile is the GT-class score map blended over the image with the GT boxes
(green) and the predicted boxes (blue) at the panel's CAM threshold, under a caption strip:
image index and GT class, the top-1 prediction with its probability on a green (correct) or
red (wrong) background, and the threshold. Methods that declare extra maps
(``WSOLMethod.extra_maps``) get one extra tile per map, then the scored map, side by side with
the main tile.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor
from torchvision.utils import make_grid

from wsol.viz.overlay import (
    CORRECT_COLOR,
    NEUTRAL_COLOR,
    WRONG_COLOR,
    add_caption,
    annotate,
    heatmap_overlay,
)

# Tiles per grid row (a sample's tiles are never split over two rows).
TILES_PER_ROW = 4
# Small frames are enlarged (nearest neighbour, by an integer factor) to at least this side.
MIN_TILE_SIDE = 192


@dataclass
class PanelSample:
    """One image of the panel, as captured from a validation step (CPU tensors).

    Attributes:
        index: dataset index of the image.
        image: uint8 [3, H, W] (denormalized network input, the evaluation frame).
        scoremap: [H, W] float in [0, 1], the score map the metrics scored (GT class).
        gt_boxes: [K, 4] inclusive GT boxes in the frame.
        label: GT class id.
        prediction: top-1 class id.
        probability: softmax probability of the top-1 class, in [0, 1].
        valid: False when the CAM could not be normalized (the score map is all zeros).
        extra_maps: caption -> [H, W] map in [0, 1], shown as extra tiles in this order.
        pred_boxes: [P, 4] predicted boxes in the frame, or None (not drawn).
    """

    index: int
    image: Tensor
    scoremap: Tensor
    gt_boxes: Tensor
    label: int
    prediction: int
    probability: float
    valid: bool = True
    extra_maps: dict[str, Tensor] = field(default_factory=dict)
    pred_boxes: Tensor | None = None

    @property
    def correct(self) -> bool:
        """Top-1 classification is right."""
        return self.prediction == self.label


def class_name(class_id: int, class_names: Sequence[str] | None) -> str:
    """The class's name, or ``class <id>`` without names."""
    if class_names is not None and 0 <= class_id < len(class_names):
        return str(class_names[class_id])
    return f"class {class_id}"


def sample_tiles(
    sample: PanelSample,
    lut: Tensor,
    class_names: Sequence[str] | None = None,
    threshold: float | None = None,
    alpha: float = 0.5,
) -> list[Tensor]:
    """The captioned tiles of one image: the annotated overlay, then one per extra map.

    Frames smaller than :data:`MIN_TILE_SIDE` are enlarged by an integer factor (nearest
    neighbour, after drawing: every frame pixel becomes a block of pixels).

    Returns:
        uint8 [3, f * H + strip, f * W] tiles, all of the same size.
    """
    verdict = "OK" if sample.correct else "WRONG"
    status = f"boxes @ t={threshold:.2f}" if threshold is not None else "no boxes"
    if not sample.valid:
        status = "invalid CAM (constant)"
    lines = [
        f"#{sample.index} GT {class_name(sample.label, class_names)}",
        f"{verdict}: {class_name(sample.prediction, class_names)} {sample.probability:.0%}",
        status,
    ]
    main = annotate(
        sample.image,
        sample.scoremap,
        lut,
        gt_boxes=sample.gt_boxes,
        pred_boxes=sample.pred_boxes if sample.valid else None,
        alpha=alpha,
    )
    factor = max(1, -(-MIN_TILE_SIDE // min(sample.image.shape[-2:])))
    background = CORRECT_COLOR if sample.correct else WRONG_COLOR
    tiles = [add_caption(enlarge(main, factor), lines, background)]
    for name, scoremap in sample.extra_maps.items():
        tile = enlarge(heatmap_overlay(sample.image, scoremap, lut, alpha), factor)
        tiles.append(add_caption(tile, [name, "GT class", ""], NEUTRAL_COLOR))
    return tiles


def enlarge(image: Tensor, factor: int) -> Tensor:
    """Nearest-neighbour enlargement of a [3, H, W] image by an integer factor."""
    if factor == 1:
        return image
    return image.repeat_interleave(factor, dim=-2).repeat_interleave(factor, dim=-1)


def render_panel(
    samples: Sequence[PanelSample],
    lut: Tensor,
    class_names: Sequence[str] | None = None,
    threshold: float | None = None,
    alpha: float = 0.5,
) -> Tensor:
    """All samples' tiles in one grid (one sample's tiles side by side, never wrapped).

    Args:
        samples: the panel's images (at least one), all of the same frame size.
        lut: uint8 [256, 3] colormap table.
        class_names: class names for the captions (None: ``class <id>``).
        threshold: CAM threshold of the predicted boxes, printed in the captions.
        alpha: heatmap weight.

    Returns:
        uint8 [3, H, W] grid image.
    """
    if not samples:
        raise ValueError("render_panel needs at least one sample")
    tiles = [sample_tiles(s, lut, class_names, threshold, alpha) for s in samples]
    per_sample = max(len(t) for t in tiles)
    if any(len(t) != per_sample for t in tiles):
        raise ValueError("every panel sample must have the same extra maps")
    nrow = per_sample * max(1, TILES_PER_ROW // per_sample)
    flat = torch.stack([tile for group in tiles for tile in group])
    return make_grid(flat, nrow=nrow, padding=2, pad_value=255)
