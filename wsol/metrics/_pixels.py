"""Compiled per-pixel kernels: input checks, uint8 quantization, PxAP score histograms.

Single passes over the pixels, kept apart from the contour sweeps (`_sweep`) so each stays
small. numba ``cache=True``: compiled once per machine; ``nogil=True``: `_threads` runs
them on several threads.

PxAP binning (`histogram_maps`) must equal ``np.histogram`` over the float64 edges
``[t_0 .. t_{T-1}, 1, 2, 3]`` (``t_i = i * interval`` rounded, e.g. 0.35000000000000003)
bit for bit. It works on blocks of pixels in two passes:

1. SIMD-friendly (vectorized by LLVM): the candidate bin ``c = trunc(s / interval)``
   computed in the scores' own precision, and the mask byte, give each pixel a slot index
   ``(mask & 3) * stride + c`` (0 background, 1 foreground, 3 ignored). Computed twice,
   from ``f - eps`` and ``f + eps`` (``f = s * inv``); where the two differ, ``f`` lies
   within ``eps`` of an integer and the rounding of ``f`` could put the pixel on the wrong
   side of an edge. ``eps`` bounds that rounding error with a wide margin (float64:
   ``(T + 2) 2^-46``, the error being below ``(T + 1) 2^-51``; float32:
   ``(T + 2) 2^-21`` against ``(T + 1) 2^-22``). Such pixels, and those of the top
   threshold bin when ``T * interval != 1`` (its upper edge is 1.0, not a multiple of the
   interval), get an all-ones index.
2. Scatter: each slot index adds one to one of four interleaved sub-histograms (a pixel
   and the three after it never update the same counter, so increments of equal bins do
   not wait on each other). All-ones indices are resolved exactly first: ``b`` from
   ``s * inv`` in float64, then one comparison with each neighbouring float64 edge, as
   ``np.histogram`` compares (``s >= edge``).

The input checks ride along: NaN and scores outside [0, 1] get all-ones indices (``trunc``
of NaN, of infinities and of large values is the integer indefinite 0x80000000, and
scores above 1 land at or beyond the top bin), and the exact step rejects them; an OR over
the scores' bit patterns catches the rest (its sign bit: a negative score; the exponent's
top bit: 2 or more, inf or NaN), which sends the block through an exact check before its
indices are used; a byte pass checks the mask values.
"""

import numpy as np

from wsol.metrics._compiled import kernel

_I = np.int32
_U = np.uint32
_FLAG = np.uint32(1 << 31)
BLOCK = 2048  # pixels per pass: the block's scores, masks and indices stay in L1


@kernel
def _candidate_slots(scores, bits, masks, inv, eps, last, stride, idx):
    """Pass 1 over one block: idx[k] = (mask & 3) * stride + bin, all ones where unsure.

    ``inv``, ``eps`` are in the scores' float type; ``bits`` is the scores viewed as
    unsigned integers. Returns the OR of ``bits`` (see `histogram_maps`, ``unusual``).
    """
    acc = bits[0] ^ bits[0]  # zero of the bits' type
    for k in range(scores.size):
        f = scores[k] * inv
        c1 = _I(f - eps)
        c2 = _I(f + eps)
        ok = (c1 == c2) & (c2 < last)
        v = _I(_I(_I(masks[k]) & _I(3)) * stride) + c2
        idx[k] = _U(v | (_I(ok) - _I(1)))
        acc |= bits[k]
    return acc


@kernel
def _bad_mask_byte(masks):
    """True if a mask value is not 0, 1 or 255 (m + 1 wraps those to 1, 2, 0)."""
    top = np.uint8(0)
    for k in range(masks.size):
        v = np.uint8(masks[k] + np.uint8(1))
        top = v if v > top else top  # a max reduction vectorizes; an OR of tests does not
    return top > 2


@kernel
def _exact_slot(s, m, inv, edges, top, stride):
    """Slot index of one pixel by comparisons with the float64 edges; all ones if the
    score is NaN or outside [0, 1]."""
    if not (s >= 0 and s <= 1):
        return _U(0xFFFFFFFF)
    s64 = np.float64(s)
    b = int(s64 * inv)
    b = b if b < top else top
    b = b - (s64 < edges[b]) + (s64 >= edges[b + 1])
    return _U((m & 3) * stride + b)


@kernel
def _scatter(scores, masks, idx, inv, edges, top, stride, h0, h1, h2, h3):
    """Pass 2 over one block: count the slot indices. Returns True on an invalid score."""
    n = idx.size
    n4 = n & ~3
    for k in range(0, n4, 4):
        i0 = idx[k]
        i1 = idx[k + 1]
        i2 = idx[k + 2]
        i3 = idx[k + 3]
        if (i0 | i1 | i2 | i3) >= _FLAG:
            if i0 >= _FLAG:
                i0 = _exact_slot(scores[k], masks[k], inv, edges, top, stride)
            if i1 >= _FLAG:
                i1 = _exact_slot(scores[k + 1], masks[k + 1], inv, edges, top, stride)
            if i2 >= _FLAG:
                i2 = _exact_slot(scores[k + 2], masks[k + 2], inv, edges, top, stride)
            if i3 >= _FLAG:
                i3 = _exact_slot(scores[k + 3], masks[k + 3], inv, edges, top, stride)
            if (i0 | i1 | i2 | i3) >= _FLAG:
                return True
        h0[i0] += 1
        h1[i1] += 1
        h2[i2] += 1
        h3[i3] += 1
    for k in range(n4, n):
        i0 = idx[k]
        if i0 >= _FLAG:
            i0 = _exact_slot(scores[k], masks[k], inv, edges, top, stride)
            if i0 >= _FLAG:
                return True
        h0[i0] += 1
    return False


@kernel
def histogram_maps(scores, bits, masks, edges, inv64, inv, eps, last, unusual, sub, idx):
    """np.histogram of the scores of background, foreground and ignored pixels of maps.

    Args:
        scores: [N, P] float32/float64 scores (unchecked: bad values are detected).
        bits: ``scores`` viewed as uint32/uint64.
        masks: [N, P] uint8, 0 background, 1 foreground, 255 ignored (unchecked).
        edges: [T + 3] float64 bin edges ``[thresholds..., 1.0, 2.0, 3.0]``.
        inv64: ``1 / interval`` in float64 (the exact step).
        inv, eps: ``1 / interval`` and the rounding band, in the scores' float type.
        last: first candidate bin that must be decided exactly (T - 1, or T when
            ``1 / interval == T`` exactly, see `pxap_constants`).
        unusual: the top two bits in the type of ``bits`` (sign, top exponent bit): a
            block whose OR of bits has one (a negative score, or one >= 2, inf, NaN) is
            checked exactly before its counts are trusted.
        sub: [4, 4 * (T + 2)] int32 counts, incremented (slot ``(mask & 3) * (T + 2) + bin``
            of four interleaved sub-histograms); at most 2**31 - 1 pixels per call.
        idx: [BLOCK] uint32 scratch.

    Returns:
        Index of the first map holding a NaN, a score outside [0, 1] or a mask value
        other than 0, 1, 255 (its counts and those of later maps are incomplete); -1 if
        none.
    """
    stride = _I(edges.size - 1)
    top = edges.size - 3  # the [1, 2) bin, where a score of exactly 1.0 lands
    h0, h1, h2, h3 = sub[0], sub[1], sub[2], sub[3]
    for i in range(scores.shape[0]):
        sc = scores[i]
        bt = bits[i]
        mk = masks[i]
        n = sc.size
        for lo in range(0, n, BLOCK):
            hi = min(lo + BLOCK, n)
            ix = idx[: hi - lo]
            acc = _candidate_slots(sc[lo:hi], bt[lo:hi], mk[lo:hi], inv, eps, last, stride, ix)
            if _bad_mask_byte(mk[lo:hi]):
                return i
            if acc & unusual:
                for k in range(lo, hi):
                    if not (sc[k] >= 0 and sc[k] <= 1):
                        return i
            if _scatter(sc[lo:hi], mk[lo:hi], ix, inv64, edges, top, stride, h0, h1, h2, h3):
                return i
    return -1


def pxap_constants(cam_curve_interval: float, n_thresholds: int, dtype) -> tuple:
    """``inv``, ``eps`` (in the scores' float type ``dtype``), ``last`` and ``unusual``
    for `histogram_maps`."""
    t = int(n_thresholds)
    inv = 1.0 / float(cam_curve_interval)
    # With 1 / interval == T exactly (0.01, 0.001, ...), the bin [t_{T-1}, 1) ends where
    # s * inv reaches T, so only candidates >= T (a score of 1 or more) are unsure.
    last = t if inv == t else t - 1
    if np.dtype(dtype) == np.float32:
        eps = (t + 2) * 2.0**-21
    else:
        eps = (t + 2) * 2.0**-46
    ftype = np.dtype(dtype).type
    unusual = np.uint32(0xC000_0000) if ftype == np.float32 else np.uint64(0xC000 << 48)
    return ftype(inv), ftype(eps), np.int32(last), unusual


@kernel
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


@kernel
def first_bad_mask(masks):
    """Index of the first mask [N, P] holding a value other than 0, 1, 255; -1 if none."""
    for i in range(masks.shape[0]):
        if _bad_mask_byte(masks[i]):
            return i
    return -1


@kernel
def quantize_batch(maps, scale, out):
    """out = (maps * scale) truncated to uint8, computed in the maps' own float type.

    ``scale`` is 255 in that same float type, so float32 maps multiply in float32 like
    numpy's ``(s * 255).astype(np.uint8)``. Maps [N, P] must be checked (within [0, 1]).
    """
    for i in range(maps.shape[0]):
        m = maps[i]
        o = out[i]
        for j in range(m.size):
            o[j] = np.uint8(_I(m[j] * scale))
