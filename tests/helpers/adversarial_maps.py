"""Seeded generators of score maps that stress the protocol's corner cases.

Plateaus exactly at the quantized cut-offs, rings and holes inside holes, one-pixel lines
and diagonal chains, noise, tiny and non-square frames, maps with few distinct values,
all-zero and constant maps, plus ground-truth boxes that sometimes hug a ring's hole.
numpy only, so the same cases can run under another OpenCV version.
"""

from __future__ import annotations

import numpy as np

KINDS = (
    "noise",
    "levels",
    "blobs",
    "rings",
    "lines",
    "checker",
    "plateau",
    "tiny",
    "flat",
    "dim",
)


def _blobs(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w].astype(np.float64)
    out = np.zeros((h, w))
    for _ in range(int(rng.integers(1, 5))):
        cy, cx = rng.uniform(-0.1, 1.1, 2) * (h, w)
        sy, sx = rng.uniform(0.03, 0.4, 2) * (h, w) + 0.5
        out += rng.uniform(0.2, 1) * np.exp(-0.5 * (((yy - cy) / sy) ** 2 + ((xx - cx) / sx) ** 2))
    return out


def _rings(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w].astype(np.float64)
    cy, cx = rng.uniform(0.3, 0.7, 2) * (h, w)
    r = np.hypot((yy - cy) * rng.uniform(0.7, 1.3), xx - cx)
    period = rng.uniform(2.0, max(2.5, min(h, w) / 3))
    out = 0.5 + 0.5 * np.cos(2 * np.pi * r / period)  # concentric rings: holes in holes
    return out * np.exp(-r / max(h, w) * rng.uniform(0, 3))


def _lines(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    out = np.zeros((h, w))
    for _ in range(int(rng.integers(1, 6))):
        value = rng.uniform(0.1, 1)
        if rng.random() < 0.5:
            out[int(rng.integers(h)), int(rng.integers(w)) :] = value
        else:
            out[int(rng.integers(h)) :, int(rng.integers(w))] = value
    if rng.random() < 0.7:  # a small blob the line competes with in single-contour mode
        y, x = int(rng.integers(h)), int(rng.integers(w))
        out[y : y + int(rng.integers(1, 4)), x : x + int(rng.integers(1, 4))] = rng.uniform(0.1, 1)
    return out


def _checker(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    cell = int(rng.integers(1, 3))
    board = ((yy // cell + xx // cell) % 2).astype(np.float64)
    return board * rng.uniform(0.2, 1, (h, w)) ** rng.integers(0, 2)


def scoremap(rng: np.random.Generator, kind: str, h: int, w: int) -> np.ndarray:
    """One [h, w] float64 map in [0, 1] of the given kind."""
    if kind == "noise":
        out = rng.random((h, w)) * rng.uniform(0.2, 1)
    elif kind == "levels":  # few distinct values, mostly exact multiples of 1/255
        values = rng.integers(0, 256, int(rng.integers(2, 6))) / 255.0
        out = values[rng.integers(0, len(values), (h, w))]
    elif kind == "blobs":
        out = _blobs(rng, h, w)
        out = out + rng.uniform(0, 0.05) * rng.standard_normal((h, w)) * (rng.random() < 0.5)
    elif kind == "rings":
        out = _rings(rng, h, w)
    elif kind == "lines":
        out = _lines(rng, h, w)
    elif kind == "checker":
        out = _checker(rng, h, w)
    elif kind == "plateau":  # u8 values landing exactly on int(t * max) cut-offs
        top = int(rng.integers(1, 256))
        cuts = np.unique((np.arange(0, 1, 0.01) * top).astype(int))
        picks = rng.choice(cuts, int(rng.integers(2, 6))) + rng.integers(0, 2, 1)
        levels = np.append(np.minimum(picks, top), top) / 255.0
        out = _blobs(rng, h, w)
        out = levels[
            np.minimum((out / max(out.max(), 1e-12) * len(levels)).astype(int), len(levels) - 1)
        ]
    elif kind == "tiny":
        out = rng.random((h, w)) ** 3
    elif kind == "flat":
        out = np.full((h, w), float(rng.choice([0.0, 0.5, 1.0, 1 / 255, 0.999])))
    elif kind == "dim":  # max below 1, sometimes below 1/255 (all-zero u8)
        out = _blobs(rng, h, w) * rng.choice([0.003, 0.02, 0.3])
    else:
        raise ValueError(kind)
    out = np.clip(np.asarray(out, np.float64), 0, None)
    if kind in ("noise", "blobs", "rings", "checker", "tiny") and out.max() > 0:
        out = (out - out.min()) / max(out.max() - out.min(), 1e-300)
    return np.clip(out, 0.0, 1.0)


def gt_boxes(rng: np.random.Generator, s: np.ndarray) -> np.ndarray:
    """1-3 inclusive boxes [K, 4]; sometimes the bounding box of a level set or its hole."""
    h, w = s.shape
    boxes = []
    for _ in range(int(rng.integers(1, 4))):
        mode = rng.random()
        if mode < 0.3:
            ys, xs = np.nonzero(s > rng.uniform(0, max(s.max(), 1e-9)))
            if len(ys):
                boxes.append([xs.min(), ys.min(), xs.max(), ys.max()])
                continue
        if mode < 0.45:
            ys, xs = np.nonzero(s < rng.uniform(0, 1) * s.max())
            if len(ys):
                boxes.append([xs.min(), ys.min(), xs.max(), ys.max()])
                continue
        x0, x1 = np.sort(rng.integers(0, w, 2))
        y0, y1 = np.sort(rng.integers(0, h, 2))
        boxes.append([x0, y0, x1, y1])
    return np.asarray(boxes, np.int64)


def adversarial_cases(seed: int, n: int, max_side: int = 40) -> list[tuple[np.ndarray, np.ndarray]]:
    """n (scoremap [h, w] float64, gt_boxes [K, 4]) pairs, sizes from 1 to max_side."""
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        if kind == "tiny":
            h, w = (int(v) for v in rng.integers(1, 4, 2))
        else:
            h, w = (int(v) for v in rng.integers(2, max_side + 1, 2))
        s = scoremap(rng, kind, h, w)
        cases.append((s, gt_boxes(rng, s)))
    return cases
