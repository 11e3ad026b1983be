"""One synthetic image: objects of one class (body + part), clutter, and their annotations.

Drawing order: textured background → class-neutral distractor shapes → decoy patterns →
objects (striped, coloured body; then its part, a square showing the class's 3x3 pattern).

Every random number of the base image comes from one stream seeded by (seed, split, index),
drawn in the same order whatever the variant; probe variants take their replacement values
(decoy pattern, random body colour) from a second stream. So the no-part control differs
from the normal image only inside part squares, ``decoy_part`` only inside part squares and
``random_body`` only inside object bodies.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from wsol.data.synthetic import render
from wsol.data.synthetic.config import SyntheticConfig, class_patterns, decoy_patterns


@dataclass
class Scene:
    """A rendered image and its annotations (inclusive pixel boxes).

    Attributes:
        image: uint8 [S, S, 3] RGB.
        label: class index.
        boxes: per object (x0, y0, x1, y1), tight around its mask.
        masks: per object bool [S, S].
        parts: per object the part square (x0, y0, x1, y1), drawn or not.
    """

    image: np.ndarray
    label: int
    boxes: list[tuple[int, int, int, int]]
    masks: list[np.ndarray]
    parts: list[tuple[int, int, int, int]]


@dataclass
class _Object:
    x0: int
    y0: int
    width: int
    height: int
    kind: int
    part_xy: tuple[int, int]
    part_side: int


def image_stream(seed: int, split: str, index: int, stream: int = 0) -> np.random.Generator:
    """Generator of image ``index`` of ``split``: stream 0 draws the layout, 1 probe values.

    Seeded by (seed, crc32(split), index, stream) alone, so a split's images do not depend
    on other splits or on the split's size. Probe splits use their base split's name.
    """
    return np.random.default_rng([seed, zlib.crc32(split.encode()), index, stream])


def _sample_objects(cfg: SyntheticConfig, rng: np.random.Generator) -> list[_Object]:
    size = cfg.image_size
    multi = rng.random() < cfg.multi_instance_prob
    count = int(rng.integers(2, 4)) if multi else 1
    low, high = cfg.scale_range
    high = min(high, cfg.multi_instance_max_scale) if multi else high
    min_side = cfg.min_part_size + 4
    objects: list[_Object] = []
    for _ in range(count):
        side = rng.uniform(low, high) * size
        aspect = np.exp(rng.uniform(-np.log(cfg.max_aspect), np.log(cfg.max_aspect)))
        width = int(np.clip(round(side * np.sqrt(aspect)), min_side, size))
        height = int(np.clip(round(side / np.sqrt(aspect)), min_side, size))
        kind = int(rng.integers(len(render.SHAPES)))
        part_side = max(cfg.min_part_size, round(cfg.part_fraction * min(width, height)))
        part_side = min(part_side, min(width, height) - 2)
        # The part and a one-pixel ring around it lie inside the body.
        positions = render.square_positions(render.shape_mask(kind, width, height), part_side + 2)
        if len(positions) == 0:
            kind = render.RECTANGLE  # always has room: short side >= part side + 2
            shape = render.shape_mask(kind, width, height)
            positions = render.square_positions(shape, part_side + 2)
        py, px = positions[rng.integers(len(positions))] + 1
        placed = None
        for _attempt in range(30):
            x0, y0 = int(rng.integers(size - width + 1)), int(rng.integers(size - height + 1))
            if all(_apart((x0, y0, width, height), o) for o in objects):
                placed = (x0, y0)
                break
        if placed is not None:
            objects.append(_Object(*placed, width, height, kind, (int(px), int(py)), part_side))
    return objects


def _apart(box: tuple[int, int, int, int], other: _Object, gap: int = 2) -> bool:
    x0, y0, width, height = box
    return (
        x0 >= other.x0 + other.width + gap
        or other.x0 >= x0 + width + gap
        or y0 >= other.y0 + other.height + gap
        or other.y0 >= y0 + height + gap
    )


def _background(cfg: SyntheticConfig, rng: np.random.Generator) -> np.ndarray:
    size = cfg.image_size
    first = render.hsv_rgb(rng.uniform(0, 360), rng.uniform(0, 0.5), rng.uniform(0.3, 0.8))
    second = render.hsv_rgb(rng.uniform(0, 360), rng.uniform(0, 0.5), rng.uniform(0.3, 0.8))
    coarse = render.smooth_field(rng, int(rng.integers(3, 7)), size)
    fine = render.smooth_field(rng, int(rng.integers(10, 21)), size)
    mix = (np.float32(0.75) * coarse + np.float32(0.25) * fine)[..., None]
    return first + mix * (second - first)


def _distractors(cfg: SyntheticConfig, rng: np.random.Generator, canvas: np.ndarray) -> None:
    size = cfg.image_size
    for _ in range(int(rng.integers(cfg.distractors[0], cfg.distractors[1] + 1))):
        width = max(3, round(rng.uniform(0.08, 0.3) * size))
        height = max(3, round(rng.uniform(0.08, 0.3) * size))
        kind = int(rng.integers(len(render.SHAPES)))
        x0, y0 = int(rng.integers(size - width + 1)), int(rng.integers(size - height + 1))
        colour = render.hsv_rgb(rng.uniform(0, 360), rng.uniform(0.15, 0.9), rng.uniform(0.3, 0.95))
        angle, period, phase, striped = (
            rng.uniform(-90, 90),
            rng.uniform(4, 8),
            rng.uniform(0, 2 * np.pi),
            rng.random() < 0.5,
        )
        if striped:
            factor = render.stripes(y0, x0, height, width, angle, period, phase, 0.4)
            colour = colour * factor[..., None]
        render.paint(canvas, y0, x0, render.shape_mask(kind, width, height), colour)


def _decoys(
    cfg: SyntheticConfig,
    rng: np.random.Generator,
    canvas: np.ndarray,
    objects: list[_Object],
    decoys: np.ndarray,
) -> None:
    size = cfg.image_size
    for _ in range(min(int(rng.poisson(cfg.decoys_per_image)), 3)):
        side = int(rng.integers(cfg.min_part_size, max(cfg.min_part_size, 14) + 1))
        for _attempt in range(20):
            x0, y0 = int(rng.integers(size - side + 1)), int(rng.integers(size - side + 1))
            if all(_apart((x0, y0, side, side), o, gap=1) for o in objects):
                break
        pattern = decoys[rng.integers(len(decoys))]
        patch = render.pattern_patch(pattern, side, rng.uniform(215, 255), rng.uniform(0, 40))
        canvas[y0 : y0 + side, x0 : x0 + side] = patch


def _draw_object(
    cfg: SyntheticConfig,
    canvas: np.ndarray,
    obj: _Object,
    label: int,
    rng: np.random.Generator,
    probe_rng: np.random.Generator | None,
    variant: str | None,
) -> tuple[tuple[int, int, int, int], np.ndarray, tuple[int, int, int, int]]:
    """Paint one object (striped body, then its part); returns (box, mask [S, S], part box)."""
    hue_spacing, angle_spacing = 360.0 / cfg.num_classes, 90.0 / cfg.num_classes
    hue = label * hue_spacing + rng.uniform(-1, 1) * cfg.hue_noise * hue_spacing
    angle = (label + 0.5) * angle_spacing
    angle += rng.uniform(-1, 1) * cfg.orientation_noise * angle_spacing
    angle = abs(angle) if abs(angle) <= 90 else 180 - abs(angle)  # fold into [0, 90]
    angle *= 1 if rng.random() < 0.5 else -1  # mirror images are equally likely
    saturation, value = rng.uniform(0.45, 0.9), rng.uniform(0.6, 0.95)
    period, phase, depth = rng.uniform(4, 8), rng.uniform(0, 2 * np.pi), rng.uniform(0.3, 0.5)
    on, off = rng.uniform(215, 255), rng.uniform(0, 40)
    pattern = class_patterns(cfg.num_classes)[label]
    if variant == "random_body":
        hue, angle = probe_rng.uniform(0, 360), probe_rng.uniform(-90, 90)
    elif variant == "decoy_part":
        decoys = decoy_patterns(cfg.num_classes)
        pattern = decoys[probe_rng.integers(len(decoys))]

    shape = render.shape_mask(obj.kind, obj.width, obj.height)
    factor = render.stripes(obj.y0, obj.x0, obj.height, obj.width, angle, period, phase, depth)
    render.paint(
        canvas, obj.y0, obj.x0, shape, render.hsv_rgb(hue, saturation, value) * factor[..., None]
    )
    px, py, side = obj.x0 + obj.part_xy[0], obj.y0 + obj.part_xy[1], obj.part_side
    if cfg.with_parts:
        canvas[py : py + side, px : px + side] = render.pattern_patch(pattern, side, on, off)

    mask = np.zeros(canvas.shape[:2], dtype=bool)
    mask[obj.y0 : obj.y0 + obj.height, obj.x0 : obj.x0 + obj.width] = shape
    rows, cols = np.flatnonzero(shape.any(1)), np.flatnonzero(shape.any(0))
    box = (
        obj.x0 + int(cols[0]),
        obj.y0 + int(rows[0]),
        obj.x0 + int(cols[-1]),
        obj.y0 + int(rows[-1]),
    )
    return box, mask, (px, py, px + side - 1, py + side - 1)


def draw_scene(cfg: SyntheticConfig, split: str, index: int, variant: str | None = None) -> Scene:
    """Draw image ``index`` of ``split``; ``variant`` is a probe name or None.

    The label is ``index % num_classes``. Probe splits pass their base split as ``split``.
    """
    rng = image_stream(cfg.seed, split, index)
    probe_rng = image_stream(cfg.seed, split, index, 1) if variant else None
    label = index % cfg.num_classes
    objects = _sample_objects(cfg, rng)
    canvas = _background(cfg, rng)
    _distractors(cfg, rng, canvas)
    _decoys(cfg, rng, canvas, objects, decoy_patterns(cfg.num_classes))
    drawn = [_draw_object(cfg, canvas, obj, label, rng, probe_rng, variant) for obj in objects]

    noise = rng.random(canvas.shape, dtype=np.float32)  # uniform sensor noise, +-amplitude
    canvas += (noise - np.float32(0.5)) * np.float32(2 * rng.uniform(3, 8))
    np.clip(canvas, 0, 255, out=canvas)
    image = np.rint(canvas, out=canvas).astype(np.uint8)
    boxes, masks, parts = (list(column) for column in zip(*drawn, strict=True))
    return Scene(image=image, label=label, boxes=boxes, masks=masks, parts=parts)
