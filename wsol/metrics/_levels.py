"""Compiled per-map level work of the contour sweep: quantize, group by value, fill holes.

Maps live in a zero-framed layout (`Frame`: one pixel of zeros around the map, rows
``stride = width + 2`` apart) so that neighbour reads need no bounds checks; a pixel is
its index in that layout. Indices pass through ``_u`` (uint32): numba adds a negative-index
wrap-around to every signed index, which doubled the cost of the neighbour reads; all
indices are non-negative and below 2**31 (`_sweep.box_flags_batch` checks the frame size).
"""

from collections import namedtuple

import numpy as np

from wsol.metrics._compiled import kernel

_u = np.uint32

# The zero-framed layout of [height, width] maps: pixel (x, y) of the map is index
# (y + 1) * stride + x + 1; ``p * row_mul >> 40`` is ``p // stride`` for every index.
Frame = namedtuple("Frame", ["height", "width", "stride", "row_mul"])


def frame_of(height: int, width: int) -> Frame:
    """The `Frame` of [height, width] maps."""
    stride = width + 2
    return Frame(height, width, stride, ((1 << 40) + stride - 1) // stride)


@kernel
def load_map(src, frame, img, counts):
    """Copy one uint8 map into the zero-framed buffer and count its values.

    ``counts`` [4, 256] is reset and filled with the value counts (four rows, one per
    column mod 4, so equal neighbours do not wait on each other). Returns the max value.
    """
    h, w, wp = frame.height, frame.width, frame.stride
    counts[:] = 0
    for y in range(h):
        row = img[(y + 1) * wp + 1 : (y + 1) * wp + 1 + w]
        line = src[y * w : (y + 1) * w]
        for x in range(w):
            row[x] = line[x]
        for x in range(w):
            counts[x & 3, row[x]] += 1
    top = 255
    while top > 0 and counts[0, top] + counts[1, top] + counts[2, top] + counts[3, top] == 0:
        top -= 1
    return top


@kernel
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


@kernel
def regroup_by_value(img, frame, counts, order, start):
    """`group_by_value` for a map already in the framed buffer (counts it first)."""
    h, w, wp = frame.height, frame.width, frame.stride
    counts[:] = 0
    for y in range(1, h + 1):
        base = y * wp + 1
        for x in range(w):
            counts[x & 3, img[_u(base + x)]] += 1
    group_by_value(img, frame, counts, order, start)


@kernel
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


@kernel
def fill_holes(img, frame, fill, mark, ws):
    """Grey-level hole filling of a framed map; returns how many pixels lie in a hole.

    ``fill[p]`` = min over 4-paths from p to the frame of the path's max value (the level
    at which p's background region joins the outside; ``fill == img`` outside every hole).
    Reconstruction by erosion from the frame (Vincent's hybrid algorithm): a forward and
    a backward raster scan settle most pixels; the pixels whose lower value could still
    spread are queued and spread in FIFO order (``ws.queue``, a ring buffer holding at most
    one entry per pixel: ``ws.queued[p] == mark`` while p waits). Writes the pixels with
    ``img < fill`` (the only ones ever inside a hole) to ``ws.hole_px``.
    """
    h, w, wp = frame.height, frame.width, frame.stride
    queue, queued, hole_px = ws.queue, ws.queued, ws.hole_px
    n = (h + 2) * wp
    for x in range(wp):  # the frame; the interior is written before it is read
        fill[x] = 0
        fill[n - wp + x] = 0
    for y in range(h + 2):
        fill[y * wp] = 0
        fill[y * wp + wp - 1] = 0
    for y in range(1, h + 1):  # forward: from above and from the left, in one pass
        run = np.uint8(0)  # the frame
        for p in range(y * wp + 1, y * wp + w + 1):
            run = max(img[_u(p)], min(fill[_u(p - wp)], run))
            fill[_u(p)] = run
    size = 0
    for y in range(h, 0, -1):  # backward: from below and from the right, in one pass
        run = np.uint8(0)
        for p in range(y * wp + w, y * wp, -1):
            run = max(img[_u(p)], min(fill[_u(p)], fill[_u(p + wp)], run))
            fill[_u(p)] = run
            # Queue p if a lower value could still spread from it to the pixel below or
            # to the right (both settled by this pass already). Without a branch, which
            # noisy maps mispredict: p is written at the queue's end and kept if it spreads.
            below, right = fill[_u(p + wp)], fill[_u(p + 1)]
            spread = ((below > run) & (below > img[_u(p + wp)])) | (
                (right > run) & (right > img[_u(p + 1)])
            )
            queue[_u(size)] = p
            size += spread
    for i in range(size):
        queued[_u(queue[_u(i)])] = mark
    head = 0
    while head != size:
        p = np.int64(queue[_u(head)])
        queued[_u(p)] = 0
        head = head + 1 if head + 1 < n else 0
        f = fill[_u(p)]
        for q in (p - wp, p - 1, p + 1, p + wp):
            fq, vq = fill[_u(q)], img[_u(q)]
            if fq > f and vq != fq:
                fill[_u(q)] = max(vq, f)
                if queued[_u(q)] != mark:
                    queued[_u(q)] = mark
                    queue[_u(size)] = q
                    size = size + 1 if size + 1 < n else 0
    n_hole = 0
    for y in range(1, h + 1):
        for p in range(y * wp + 1, y * wp + w + 1):
            hole_px[_u(n_hole)] = p
            n_hole += img[_u(p)] < fill[_u(p)]
    return n_hole
