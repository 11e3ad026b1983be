"""Compiled per-pixel kernels: input checks, uint8 quantization, PxAP score histograms.

Single passes over the pixels, kept apart from the contour sweeps (`_sweep`) so each stays
small. numba ``cache=True``: compiled once per machine.
"""

import numpy as np
from numba import njit


@njit(cache=True)
def histogram_batch(scores, masks, edges, inv_interval, hist):
    """np.histogram of the scores of background, foreground and ignored pixels, accumulated.

    ``f = s / interval`` is within ``T * 5e-16`` bins of the exact position among the
    float edges (``i * interval`` up to rounding), so ``floor(f)`` is the bin unless f is
    within 1e-6 of an integer or in the last two bins (the one ending at 1.0 may be
    shorter, and 1.0 has its own); there, one comparison with each neighbouring edge
    decides.

    Args:
        scores: [P] float scores in [0, 1] (all pixels of a batch, flattened; checked).
        masks: [P] uint8, 0 background, 1 foreground, 255 ignored (checked).
        edges: [B + 1] float64 bin edges ``[thresholds..., 1.0, 2.0, 3.0]``, B <= 1e5 + 2.
        inv_interval: 1 / threshold step.
        hist: [3, B] int64 counts (background, foreground, ignored), incremented.
    """
    top = edges.size - 3  # the [1, 2) bin, where a score of exactly 1.0 lands
    for p in range(scores.size):
        s = scores[p]
        f = s * inv_interval
        b = int(f)
        r = f - b
        if r < 1e-6 or r > 0.999999 or b >= top - 1:
            b = b if b < top else top
            b = b - (s < edges[b]) + (s >= edges[b + 1])
        m = masks[p]
        hist[m if m < 2 else 2, b] += 1


@njit(cache=True)
def first_bad_map(maps):
    """Index of the first map [N, P] holding a NaN or a value outside [0, 1]; -1 if none."""
    for i in range(maps.shape[0]):
        bad = False
        for j in range(maps.shape[1]):
            v = maps[i, j]
            bad |= (v != v) | (v < 0) | (v > 1)
        if bad:
            return i
    return -1


@njit(cache=True)
def first_bad_mask(masks):
    """Index of the first mask [N, P] holding a value other than 0, 1, 255; -1 if none."""
    for i in range(masks.shape[0]):
        bad = False
        for j in range(masks.shape[1]):
            m = masks[i, j]
            bad |= (m > 1) & (m != 255)
        if bad:
            return i
    return -1


@njit(cache=True)
def quantize_batch(maps, scale, out):
    """out = (maps * scale) truncated to uint8, computed in the maps' own float type.

    ``scale`` is 255 in that same float type, so float32 maps multiply in float32 like
    numpy's ``(s * 255).astype(np.uint8)``. Maps [N, P] must be checked (within [0, 1]).
    """
    for i in range(maps.shape[0]):
        for j in range(maps.shape[1]):
            out[i, j] = np.uint8(int(maps[i, j] * scale))
