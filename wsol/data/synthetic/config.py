"""Parameters of the synthetic WSOL benchmark and the class definitions derived from them.

Every number that changes the generated images is a field of :class:`SyntheticConfig`; the
hash of these fields names the folder the data is written to, so changed parameters give a
new folder instead of silently reusing stale data.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

# Bump when the drawing code changes what a given configuration produces.
GENERATOR_VERSION = 1
PROBES = ("decoy_part", "random_body")


@dataclass(frozen=True)
class SyntheticConfig:
    """What the generator draws (defaults: the benchmark measured for docs/synthetic.md).

    Attributes:
        seed: base seed; image i of split s is drawn from (seed, s, i) alone.
        image_size: side of the square images in pixels.
        num_classes: number of classes (labels are ``index % num_classes``: balanced splits).
        train_size: images in ``train`` (labels only; boxes are written, masks are not).
        val_size: images in ``val`` (fully annotated; model and threshold selection).
        test_size: images in ``test`` (fully annotated).
        with_parts: draw each object's part; False renders the same objects without it.
        hue_noise: body hue jitter, uniform in +-(hue_noise x class hue spacing).
        orientation_noise: stripe orientation jitter, uniform in +-(noise x class spacing).
        scale_range: object size range, geometric-mean side as a fraction of the image side.
        max_aspect: largest width/height (and height/width) ratio of an object.
        multi_instance_prob: probability that an image holds 2-3 objects of its class.
        multi_instance_max_scale: upper size bound (fraction of the side) in such images.
        part_fraction: part side as a fraction of the object's short side.
        min_part_size: smallest part side in pixels.
        distractors: (min, max) number of class-neutral distractor shapes per image.
        decoys_per_image: mean number of decoy patterns (no class's pattern) per image.
        probe_split: split whose probe variants are generated (None: no probes).
        probes: probe variants to generate, among ``decoy_part`` (the part shows a decoy
            pattern: body evidence only) and ``random_body`` (random body hue and stripe
            orientation: part evidence only); split names ``<probe_split>_<probe>``.
        train_masks: also write mask PNGs for the training split.
    """

    seed: int = 0
    image_size: int = 96
    num_classes: int = 8
    train_size: int = 3000
    val_size: int = 80
    test_size: int = 1000
    with_parts: bool = True
    hue_noise: float = 1.0
    orientation_noise: float = 1.0
    scale_range: tuple[float, float] = (0.15, 0.70)
    max_aspect: float = 2.0
    multi_instance_prob: float = 0.25
    multi_instance_max_scale: float = 0.4
    part_fraction: float = 0.3
    min_part_size: int = 6
    distractors: tuple[int, int] = (2, 5)
    decoys_per_image: float = 1.0
    probe_split: str | None = "test"
    probes: tuple[str, ...] = PROBES
    train_masks: bool = False

    def __post_init__(self) -> None:
        # Hydra passes ListConfig for sequences: store plain tuples (hashable, JSON-able).
        for name in ("scale_range", "distractors", "probes"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        unknown = set(self.probes) - set(PROBES)
        if unknown:
            raise ValueError(f"unknown synthetic probes {sorted(unknown)}; known: {PROBES}")
        if self.num_classes < 2 or self.image_size < 32:
            raise ValueError("synthetic data needs num_classes >= 2 and image_size >= 32")

    def params(self) -> dict:
        """The generation parameters as plain JSON data (what the folder hash covers)."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(SyntheticConfig)}
        fields = {k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()}
        return {"generator_version": GENERATOR_VERSION, **fields}

    def digest(self) -> str:
        """Short hash of :meth:`params` (10 hex digits)."""
        text = json.dumps(self.params(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:10]

    def split_sizes(self) -> dict[str, int]:
        """Split name → number of images, probe splits included."""
        sizes = {"train": self.train_size, "val": self.val_size, "test": self.test_size}
        if self.probe_split is not None:
            if self.probe_split not in sizes:
                raise ValueError(f"probe_split {self.probe_split!r} is not one of {list(sizes)}")
            for probe in self.probes:
                sizes[f"{self.probe_split}_{probe}"] = sizes[self.probe_split]
        return sizes

    def probe_splits(self) -> list[str]:
        """Names of the probe splits (``<probe_split>_<probe>``), generated on first use."""
        if self.probe_split is None:
            return []
        return [f"{self.probe_split}_{probe}" for probe in self.probes]

    def class_names(self) -> list[str]:
        """``class<c>_h<hue>``: index and body hue in degrees."""
        spacing = 360 / self.num_classes
        return [f"class{c}_h{round(c * spacing):03d}" for c in range(self.num_classes)]


def _pattern_grid(bits: tuple[int, ...]) -> np.ndarray:
    return np.array(bits, dtype=bool).reshape(3, 3)


@lru_cache(maxsize=8)
def class_patterns(num_classes: int) -> np.ndarray:
    """Class-specific 3x3 part patterns, left-right symmetric so that flips keep the class.

    Greedy choice in a fixed order, far apart in Hamming distance (>= 3 when possible).

    Returns:
        bool [num_classes, 3, 3].
    """
    candidates = []
    for bits in itertools.product((0, 1), repeat=6):
        rows = [(bits[2 * r], bits[2 * r + 1], bits[2 * r]) for r in range(3)]
        grid = _pattern_grid(tuple(v for row in rows for v in row))
        if 3 <= grid.sum() <= 6:
            candidates.append(grid)
    order = np.random.default_rng(12345).permutation(len(candidates))
    for distance in (3, 2, 1):
        chosen: list[np.ndarray] = []
        for i in order:
            if all((candidates[i] != other).sum() >= distance for other in chosen):
                chosen.append(candidates[i])
        if len(chosen) >= num_classes:
            return np.stack(chosen[:num_classes])
    raise ValueError(f"cannot make {num_classes} distinct symmetric 3x3 patterns")


@lru_cache(maxsize=8)
def decoy_patterns(num_classes: int) -> np.ndarray:
    """3x3 patterns at Hamming distance >= 2 from every class pattern (and its mirror image).

    Returns:
        bool [D, 3, 3].
    """
    classes = class_patterns(num_classes)
    decoys = []
    for bits in itertools.product((0, 1), repeat=9):
        grid = _pattern_grid(bits)
        if 3 <= grid.sum() <= 6 and all((grid != c).sum() >= 2 for c in classes):
            decoys.append(grid)
    return np.stack(decoys)
