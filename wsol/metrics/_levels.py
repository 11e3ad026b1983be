"""Compiled per-map level work of the contour sweep: quantize, group by value, fill holes.

Maps live in a zero-framed layout (`Frame`: one pixel of zeros around the map, rows
``stride = width + 2`` apart) so that neighbour reads need no bounds checks; a pixel is
its index in that layout. Indices pass through ``_u`` (uint32): numba adds a negative-index
wrap-around to every signed index, which doubled the cost of the neighbour reads; all
indices are non-negative and below 2**31 (`_sweep.box_flags_batch` checks the frame size).
"""

from collections import namedtuple

import numpy as np
from numba import njit

_u = np.uint32
_I = np.int32

# The zero-framed layout of [height, width] maps: pixel (x, y) of the map is index
# (y + 1) * stride + x + 1; ``p * row_mul >> 40`` is ``p // stride`` for every index.
Frame = namedtuple("Frame", ["height", "width", "stride", "row_mul"])


def frame_of(height: int, width: int) -> Frame:
    """The `Frame` of [height, width] maps."""
    stride = width + 2
    return Frame(height, width, stride, ((1 << 40) + stride - 1) // stride)


@njit(cache=True, nogil=True)
def load_map(src, scale, frame, img, counts):
    """Quantize one map into the zero-framed buffer and count its values.

    ``img[interior] = trunc(src * scale)`` computed in the type of ``src`` and ``scale``
    (255 in the maps' float type; 1 for maps already in uint8). ``counts`` [4, 256] is
    reset and filled with the value counts (four rows, one per column mod 4, so equal
    neighbours do not wait on each other). Returns the max value.
    """
    h, w, wp = frame.height, frame.width, frame.stride
    counts[:] = 0
    for y in range(h):
        row = img[(y + 1) * wp + 1 : (y + 1) * wp + 1 + w]
        line = src[y * w : (y + 1) * w]
        for x in range(w):
            row[x] = np.uint8(_I(line[x] * scale))
        for x in range(w):
            counts[x & 3, row[x]] += 1
    top = 255
    while top > 0 and counts[0, top] + counts[1, top] + counts[2, top] + counts[3, top] == 0:
        top -= 1
    return top


@njit(cache=True, nogil=True)
def group_by_value(img, frame, counts, order, start):
    """Interior pixels grouped by value, raster order within a value:
    ``order[start[v]:start[v + 1]]`` (neighbours processed together stay in cache).
    ``counts`` [4, 256]: the value counts (`load_map`)."""
    h, w, wp = frame.height, frame.width, frame.stride
    pos = np.empty(256, np.int64)
    s = 0
    for v in range(256):
        start[v] = s
        pos[v] = s
        s += counts[0, v] + counts[1, v] + counts[2, v] + counts[3, v]
    start[256] = s
    for y in range(1, h + 1):
        base = y * wp + 1
        for x in range(w):
            v = img[_u(base + x)]
            order[_u(pos[v])] = base + x
            pos[v] += 1


@njit(cache=True, nogil=True)
def regroup_by_value(img, frame, counts, order, start):
    """`group_by_value` for a map already in the framed buffer (counts it first)."""
    h, w, wp = frame.height, frame.width, frame.stride
    counts[:] = 0
    for y in range(1, h + 1):
        base = y * wp + 1
        for x in range(w):
            counts[x & 3, img[_u(base + x)]] += 1
    group_by_value(img, frame, counts, order, start)


@njit(cache=True, nogil=True)
def group_listed(img, pixels, n, order, start):
    """pixels[:n] grouped by value: ``order[start[v]:start[v + 1]]``."""
    for v in range(257):
        start[v] = 0
    for i in range(n):
        start[img[_u(pixels[i])] + 1] += 1
    pos = np.empty(256, np.int64)
    for v in range(256):
        start[v + 1] += start[v]
        pos[v] = start[v]
    for i in range(n):
        v = img[_u(pixels[i])]
        order[_u(pos[v])] = pixels[i]
        pos[v] += 1


@njit(cache=True, nogil=True)
def _mark_frame(seen, frame, mark):
    """Mark the zero frame around the map as visited."""
    h, wp = frame.height, frame.stride
    n = (h + 2) * wp
    for x in range(wp):
        seen[x] = mark
        seen[n - wp + x] = mark
    for y in range(h + 2):
        seen[y * wp] = mark
        seen[y * wp + wp - 1] = mark


@njit(cache=True, nogil=True)
def fill_holes(img, frame, last, fill, mark, ws):
    """Grey-level hole filling of a framed map, knowing no hole exists above cut-off ``last``.

    ``fill`` = min over 4-paths to the frame of the path's max value, written for the
    pixels <= last (the others keep theirs: it is their own value). A flood from the frame
    through the pixels <= last, level by level: a pixel first reached at level ``lev``
    waits in bucket ``max(value, lev)``. The buckets are the value groups of
    `group_by_value` (``ws.order``/``ws.start``: a pixel only ever waits in its own
    value's bucket, or on ``ws.stack`` while its level is flooded), so they are arrays,
    not linked lists. Pixels the flood cannot reach are enclosed up to ``last`` but not
    beyond, so their fill is ``last + 1``. ``ws.seen[p] == mark`` marks visited pixels (a
    fresh mark per call, no clearing). Writes the pixels with ``img < fill`` (the only ones
    ever inside a hole) to ``ws.hole_px`` and returns their number.
    """
    order, start, seen, waiting, wait_end = ws.order, ws.start, ws.seen, ws.buckets, ws.bucket_end
    stack, hole_px = ws.stack, ws.hole_px
    h, w, wp = frame.height, frame.width, frame.stride
    _mark_frame(seen, frame, mark)
    for v in range(last + 1):
        wait_end[v] = start[v]
    # Seed the pixels along the frame (each once), by value.
    for y in range(1, h + 1):
        step = 1 if y == 1 or y == h else w - 1 if w > 1 else 1
        for x in range(1, w + 1, step):
            p = y * wp + x
            seen[p] = mark
            value = img[p]
            if value <= last:
                waiting[_u(wait_end[value])] = p
                wait_end[value] += 1
    n_holes = 0
    for lev in range(last + 1):
        i = start[lev]
        top = 0
        while True:
            if top > 0:
                top -= 1
                p = np.int64(stack[_u(top)])
            elif i < wait_end[lev]:
                p = np.int64(waiting[_u(i)])
                i += 1
            else:
                break
            fill[_u(p)] = lev
            hole_px[_u(n_holes)] = p
            n_holes += img[_u(p)] < lev
            for q in (p - wp, p - 1, p + 1, p + wp):
                value = img[_u(q)]
                if seen[_u(q)] == mark or value > last:
                    continue
                seen[_u(q)] = mark
                if value <= lev:
                    stack[_u(top)] = q
                    top += 1
                else:
                    waiting[_u(wait_end[value])] = q
                    wait_end[value] += 1
    for idx in range(start[last + 1]):
        p = order[idx]
        if seen[_u(p)] != mark:
            fill[_u(p)] = last + 1
            hole_px[_u(n_holes)] = p
            n_holes += 1
    return n_holes
