"""Compiled component-tree sweep: every CAM threshold's boxes of a map in one pass.

Why: the protocol thresholds a uint8 map at up to 1000 cut-offs and runs OpenCV's
`findContours` at each. After quantization there are at most 256 distinct masks and they
are nested, so the contours of all cut-offs follow from union-find sweeps over the pixels
sorted by value:

* foreground components (8-connected) of ``{u8 > c}``, grown from high to low values;
  a component's contour box is its bounding box. The same sweep tracks the Euler number
  (2x2 bit-quads), hence the exact number of holes at every cut-off;
* holes: 4-connected background regions of ``{u8 <= c}`` that do not touch the image
  border, grown from low to high values, only when holes exist and only up to the last
  cut-off that has one. A hole's contour runs through the foreground pixels around it, so
  its box is the hole's box dilated by one pixel.

Single-contour mode keeps the contour of largest ``cv2.contourArea``. That contour is the
outer border of a top-level component, i.e. of an 8-connected component of ``{fill > c}``
with ``fill`` the grey-level hole filling of the map (holes and what they enclose have
smaller or equal areas and come later in OpenCV's order). Its polygon area through the
border-pixel centres is ``Q4 + Q3 / 2``, ``Qk`` counting the 2x2 windows holding k of its
pixels. Equal areas go to the component whose first pixel in raster order comes last
(OpenCV lists top-level contours bottom-up).

Each component version (a component between two changes) is alive over an interval of
cut-offs; its best IoU against the ground truth marks that interval in a difference array.
Maps are processed in a zero-padded layout (row stride ``w + 2``) so that neighbour reads
need no bounds checks. These rules were checked against OpenCV 4.8, 4.10 and 5.0.

Per map: `_load` quantizes into the padded layout and counts the values, `_place` sorts
the pixels by value, `_fg_sweep` sweeps the foreground; if holes exist, `_fill_levels`
computes the hole filling, `_hole_sweep` sweeps the holes (multi mode) and a second
`_fg_sweep` the filled map (single mode); `_count` turns cut-offs into thresholds.
`box_flags_maps` runs that for a block of maps without the GIL, `box_flags_batch` spreads
the blocks over the metric threads.
"""

from collections import namedtuple

import numpy as np
from numba import njit

from wsol.metrics import _threads


def _ring_tables() -> tuple[np.ndarray, ...]:
    """Lookup tables over the 8-bit mask of the neighbours already in the set.

    Ring order: 0 up-left, 1 up, 2 up-right, 3 right, 4 down-right, 5 down, 6 down-left,
    7 left. Consecutive ring neighbours touch, so each run of set bits lies in one
    component and needs one `find`.
    """
    n_runs = np.zeros(256, np.int64)
    run_pos = np.zeros((256, 4), np.int64)
    area_inc = np.zeros(256, np.int64)
    euler_inc = np.zeros(256, np.int64)
    # The four 2x2 windows holding the new pixel P, corners (top-left, top-right,
    # bottom-left, bottom-right) given as ring positions, -1 standing for P itself.
    cells = ((0, 1, 7, -1), (1, 2, -1, 3), (-1, 3, 5, 4), (7, -1, 6, 5))

    def quad(c: tuple[int, int, int, int]) -> int:
        # 4 x Euler contribution of a window for 8-connected sets (Gray's bit-quads).
        k = sum(c)
        if k == 1:
            return 1
        if k == 3:
            return -1
        if k == 2 and ((c[0] and c[3]) or (c[1] and c[2])):
            return -2
        return 0

    for m in range(256):
        bits = [(m >> i) & 1 for i in range(8)]
        starts = [i for i in range(8) if bits[i] and not bits[i - 1]]
        if m == 255:
            starts = [0]
        n_runs[m] = len(starts)
        run_pos[m, : len(starts)] = starts
        for cell in cells:
            before = tuple(0 if i < 0 else bits[i] for i in cell)
            after = tuple(1 if i < 0 else bits[i] for i in cell)
            # A window gains area when it reaches 3 or 4 pixels: area2 = 2 Q4 + Q3.
            area_inc[m] += max(0, sum(after) - 2) - max(0, sum(before) - 2)
            euler_inc[m] += quad(after) - quad(before)
    return n_runs, run_pos, area_inc, euler_inc


_N_RUNS, _RUN_POS, _AREA_INC, _EULER_INC = _ring_tables()
# All four in one word per mask (one load in the hot loop): bits 0-2 number of runs,
# 3-14 three-bit positions of up to 4 runs, 15-17 area increment (0..4), 18+ the change
# of 4 x Euler number (-12..4: a pixel merges up to 4 components, or closes holes) + 16.
_PACKED = (
    _N_RUNS
    | (_RUN_POS[:, 0] << 3)
    | (_RUN_POS[:, 1] << 6)
    | (_RUN_POS[:, 2] << 9)
    | (_RUN_POS[:, 3] << 12)
    | (_AREA_INC << 15)
    | ((_EULER_INC + 16) << 18)
)
assert _EULER_INC.min() >= -16 and _AREA_INC.max() <= 7


# Array indices pass through ``_u`` (uint32): numba adds a negative-index wrap-around
# to every signed index, which doubled the cost of the neighbour reads. All indices here
# are non-negative and below 2**31 (`box_flags_batch` checks the frame size).
_u = np.uint32
_I = np.int32


@njit(cache=True, nogil=True, inline="always")
def _best_iou(x0, y0, x1, y1, gt, g_lo, g_hi):
    """Max inclusive (+1) IoU of one box against gt[g_lo:g_hi], in float64."""
    best = 0.0
    area_a = (x1 - x0 + 1) * (y1 - y0 + 1)
    for g in range(g_lo, g_hi):
        gx0, gy0, gx1, gy1 = gt[g, 0], gt[g, 1], gt[g, 2], gt[g, 3]
        iw = (x1 if x1 < gx1 else gx1) - (x0 if x0 > gx0 else gx0) + 1
        ih = (y1 if y1 < gy1 else gy1) - (y0 if y0 > gy0 else gy0) + 1
        inter = 0
        if iw > 0 and ih > 0:
            inter = iw * ih
        area_b = (gx1 - gx0 + 1) * (gy1 - gy0 + 1)
        iou = float(inter) / float(area_a + area_b - inter)
        if iou > best:
            best = iou
    return best


@njit(cache=True, nogil=True, inline="always")
def _close(diff, deltas, iou, lo, hi):
    """Mark cut-offs [lo, hi) correct for every IoU threshold that iou reaches."""
    for d in range(deltas.size):
        if iou >= deltas[d]:
            diff[d, _u(lo)] += 1
            diff[d, _u(hi)] -= 1


@njit(cache=True, nogil=True, inline="always")
def _heap_push(hval, hroot, size, val, root):
    i = size
    hval[_u(i)] = val
    hroot[_u(i)] = root
    while i > 0:
        up = (i - 1) >> 1
        if hval[_u(up)] >= hval[_u(i)]:
            break
        hval[_u(up)], hval[_u(i)] = hval[_u(i)], hval[_u(up)]
        hroot[_u(up)], hroot[_u(i)] = hroot[_u(i)], hroot[_u(up)]
        i = up
    return size + 1


@njit(cache=True, nogil=True, inline="always")
def _heap_pop(hval, hroot, size):
    size -= 1
    hval[0] = hval[_u(size)]
    hroot[0] = hroot[_u(size)]
    i = 0
    while True:
        c = 2 * i + 1
        if c >= size:
            break
        if c + 1 < size and hval[_u(c + 1)] > hval[_u(c)]:
            c += 1
        if hval[_u(i)] >= hval[_u(c)]:
            break
        hval[_u(c)], hval[_u(i)] = hval[_u(i)], hval[_u(c)]
        hroot[_u(c)], hroot[_u(i)] = hroot[_u(i)], hroot[_u(c)]
        i = c
    return size


@njit(cache=True, nogil=True, inline="always")
def _new_box(bb, cu, x, y):
    """Box of component ``cu`` born at pixel (x, y): bb rows are x0, y0, x1, y1."""
    bb[cu, 0] = x
    bb[cu, 1] = y
    bb[cu, 2] = x
    bb[cu, 3] = y


@njit(cache=True, nogil=True, inline="always")
def _grow_box(bb, cu, x, y):
    """Extend component ``cu``'s box to pixel (x, y)."""
    bb[cu, 0] = x if x < bb[cu, 0] else bb[cu, 0]
    bb[cu, 1] = y if y < bb[cu, 1] else bb[cu, 1]
    bb[cu, 2] = x if x > bb[cu, 2] else bb[cu, 2]
    bb[cu, 3] = y if y > bb[cu, 3] else bb[cu, 3]


@njit(cache=True, nogil=True, inline="always")
def _link(parent, bb, r, c, rq, cq):
    """Union of the components rooted at ``r`` (index ``c``) and ``rq`` (index ``cq``).

    The one with the smaller box (half perimeter) goes under the other, whose box grows to
    hold both. Returns (root, index) of the union and the index of the absorbed component.
    """
    cu, qu = _u(c), _u(cq)
    if (
        bb[qu, 2] - bb[qu, 0] + bb[qu, 3] - bb[qu, 1]
        > bb[cu, 2] - bb[cu, 0] + bb[cu, 3] - bb[cu, 1]
    ):
        r, rq = rq, r
        c, cq = cq, c
        cu, qu = qu, cu
    parent[_u(rq)] = r
    bb[cu, 0] = bb[qu, 0] if bb[qu, 0] < bb[cu, 0] else bb[cu, 0]
    bb[cu, 1] = bb[qu, 1] if bb[qu, 1] < bb[cu, 1] else bb[cu, 1]
    bb[cu, 2] = bb[qu, 2] if bb[qu, 2] > bb[cu, 2] else bb[cu, 2]
    bb[cu, 3] = bb[qu, 3] if bb[qu, 3] > bb[cu, 3] else bb[cu, 3]
    return r, c, cq


@njit(cache=True, nogil=True, inline="always")
def _mark_touched(stamp, touched, tc, c, v):
    """List component ``c`` among the ``tc`` touched at level ``v``; returns the new count."""
    stamp[_u(c)] = v
    touched[_u(tc)] = c
    return tc + 1


@njit(cache=True, nogil=True, inline="always")
def _component(parent, r):
    """Index of the component rooted at pixel ``r``."""
    return -2 - np.int64(parent[_u(r)])


@njit(cache=True, nogil=True)
def _load(src, scale, h, w, img, cnt):
    """Quantize one map into the zero-framed buffer and count its values.

    ``img[interior] = trunc(src * scale)`` computed in the type of ``src`` and ``scale``
    (255 in the maps' float type; 1 for maps already in uint8). ``cnt`` [4, 256] is reset
    and filled with the value counts (four rows, one per column mod 4, so equal neighbours
    do not wait on each other). Returns the max value.
    """
    wp = w + 2
    cnt[:] = 0
    for y in range(h):
        row = img[(y + 1) * wp + 1 : (y + 1) * wp + 1 + w]
        line = src[y * w : (y + 1) * w]
        for x in range(w):
            row[x] = np.uint8(_I(line[x] * scale))
        for x in range(w):
            cnt[x & 3, row[x]] += 1
    top = 255
    while top > 0 and cnt[0, top] + cnt[1, top] + cnt[2, top] + cnt[3, top] == 0:
        top -= 1
    return top


@njit(cache=True, nogil=True)
def _place(img, h, w, cnt, order, start):
    """Interior pixels grouped by value, raster order within a value:
    order[start[v]:start[v + 1]] (neighbours processed together stay in cache).
    ``cnt`` [4, 256]: the value counts (`_load`)."""
    wp = w + 2
    pos = np.empty(256, np.int64)
    s = 0
    for v in range(256):
        start[v] = s
        pos[v] = s
        s += cnt[0, v] + cnt[1, v] + cnt[2, v] + cnt[3, v]
    start[256] = s
    for y in range(1, h + 1):
        base = y * wp + 1
        for x in range(w):
            v = img[_u(base + x)]
            order[_u(pos[v])] = base + x
            pos[v] += 1


@njit(cache=True, nogil=True)
def _bucket(img, h, w, cnt, order, start):
    """`_place` for a map already in the framed buffer (counts it first)."""
    wp = w + 2
    cnt[:] = 0
    for y in range(1, h + 1):
        base = y * wp + 1
        for x in range(w):
            cnt[x & 3, img[_u(base + x)]] += 1
    _place(img, h, w, cnt, order, start)


@njit(cache=True, nogil=True)
def _fill_levels(img, h, w, last, fill, mark, ws):
    """Grey-level hole filling of a padded map, knowing no hole exists above cut-off ``last``.

    ``fill`` = min over 4-paths to the frame of the path's max value, written for the
    pixels <= last (the others keep theirs: it is their own value). A flood from the frame
    through the pixels <= last, level by level: a pixel first reached at level ``lev``
    waits in bucket ``max(value, lev)``. The buckets are the value groups of `_place`
    (``order``/``start``: a pixel only ever waits in its own value's bucket, or on the
    ``stack`` of the level being flooded), so they are arrays, not linked lists. Pixels
    the flood cannot reach are enclosed up to ``last`` but not beyond, so their fill is
    ``last + 1``. ``seen[p] == mark`` marks visited pixels (a fresh mark per call, no
    clearing). Writes the pixels with ``img < fill`` (the only ones ever inside a hole) to
    ``hole_px`` and returns their number.
    """
    order, start, seen, bq, ptr = ws.order, ws.start, ws.seen, ws.buckets, ws.bucket_end
    stack, hole_px = ws.stack, ws.hole_px
    wp = w + 2
    n = img.size
    for x in range(wp):
        seen[x] = mark
        seen[n - wp + x] = mark
    for y in range(h + 2):
        seen[y * wp] = mark
        seen[y * wp + wp - 1] = mark
    for v in range(last + 1):
        ptr[v] = start[v]
    # Seed the pixels along the frame (each once), by value.
    for y in range(1, h + 1):
        step = 1 if y == 1 or y == h else w - 1 if w > 1 else 1
        for x in range(1, w + 1, step):
            p = y * wp + x
            seen[p] = mark
            f = img[p]
            if f <= last:
                bq[_u(ptr[f])] = p
                ptr[f] += 1
    n_holes = 0
    for lev in range(last + 1):
        i = start[lev]
        top = 0
        while True:
            if top > 0:
                top -= 1
                p = np.int64(stack[_u(top)])
            elif i < ptr[lev]:
                p = np.int64(bq[_u(i)])
                i += 1
            else:
                break
            fill[_u(p)] = lev
            hole_px[_u(n_holes)] = p
            n_holes += img[_u(p)] < lev
            for q in (p - wp, p - 1, p + 1, p + wp):
                f = img[_u(q)]
                if seen[_u(q)] == mark or f > last:
                    continue
                seen[_u(q)] = mark
                if f <= lev:
                    stack[_u(top)] = q
                    top += 1
                else:
                    bq[_u(ptr[f])] = q
                    ptr[f] += 1
    for idx in range(start[last + 1]):
        p = order[idx]
        if seen[_u(p)] != mark:
            fill[_u(p)] = last + 1
            hole_px[_u(n_holes)] = p
            n_holes += 1
    return n_holes


@njit(cache=True, nogil=True)
def _bucket_list(img, pixels, n, order, start):
    """pixels[:n] grouped by value: order[start[v]:start[v + 1]]."""
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


@njit(cache=True, nogil=True, inline="always")
def _root(parent, x):
    """Root pixel of x (path halving). Roots hold -2 - (compact component index)."""
    while True:
        px = parent[_u(x)]
        if px < 0:
            return x
        ppx = parent[_u(px)]
        if ppx < 0:
            return px
        parent[_u(x)] = ppx
        x = ppx


@njit(cache=True, nogil=True)
def _fg_sweep(img, h, w, top, gt, g_lo, g_hi, deltas, do_multi, do_single, diff, out, ws):
    """Foreground components of {img > c} for every cut-off c in [0, top).

    Needs ``ws`` order/start from `_place` or `_bucket`. Multi: adds each component
    version's interval to ``diff`` ([D, 257]). Single: ``out[c]`` = IoU of the largest-area
    contour's box at cut-off c. Returns the highest cut-off with a hole (-1 if none).

    ``parent``: -1 outside the set, a pixel index for linked pixels, ``-2 - c`` for the
    root of component ``c``, whose data live in small arrays indexed by ``c``.
    """
    order, start, parent, bb = ws.order, ws.start, ws.parent, ws.box
    opened, open_iou, stamp, touched = ws.opened, ws.open_iou, ws.stamp, ws.touched
    area2, key, hval, hroot = ws.area2, ws.key, ws.heap_value, ws.heap_component
    wp = w + 2
    npad = img.size
    ymul = ((1 << 40) + wp - 1) // wp
    # Ring offsets: 0 up-left, 1 up, 2 up-right, 3 right, 4 down-right, 5 down,
    # 6 down-left, 7 left.
    off = np.empty(8, np.int64)
    off[0], off[1], off[2], off[3] = -wp - 1, -wp, -wp + 1, 1
    off[4], off[5], off[6], off[7] = wp + 1, wp, wp - 1, -1
    n_new = 0
    n_comp = 0
    euler4 = 0
    last_hole = -1
    hsize = 0
    for v in range(top, 0, -1):
        s = start[v]
        e = start[v + 1]
        if s == e:
            if do_single:
                out[v - 1] = out[v]
            if last_hole < 0 and n_comp * 4 != euler4:
                last_hole = v - 1
            continue
        tc = 0
        for idx in range(s, e):
            p = np.int64(order[_u(idx)])
            m = (
                (parent[_u(p - wp - 1)] != -1)
                | ((parent[_u(p - wp)] != -1) << 1)
                | ((parent[_u(p - wp + 1)] != -1) << 2)
                | ((parent[_u(p + 1)] != -1) << 3)
                | ((parent[_u(p + wp + 1)] != -1) << 4)
                | ((parent[_u(p + wp)] != -1) << 5)
                | ((parent[_u(p + wp - 1)] != -1) << 6)
                | ((parent[_u(p - 1)] != -1) << 7)
            )
            lut = _PACKED[_u(m)]
            euler4 += (lut >> 18) - 16
            y = (p * ymul) >> 40  # p // wp, exact for the frame sizes accepted
            x = p - y * wp
            n_run = lut & 7
            if n_run == 0:
                c = n_new
                n_new += 1
                n_comp += 1
                parent[_u(p)] = -2 - c
                cu = _u(c)
                _new_box(bb, cu, x, y)
                opened[cu] = 0
                tc = _mark_touched(stamp, touched, tc, c, v)
                if do_single:
                    key[cu] = p
                    area2[cu] = 0
                continue
            # The pixel joins the component of its first run of set neighbours; the
            # components of the other runs merge into it.
            r, c, cu = -1, -1, _u(0)
            for j in range(n_run):
                rq = _root(parent, p + off[(lut >> (3 + 3 * j)) & 7])
                if j > 0 and rq == r:
                    continue
                cq = _component(parent, rq)
                qu = _u(cq)
                if stamp[qu] != v:
                    tc = _mark_touched(stamp, touched, tc, cq, v)
                    if do_multi and opened[qu] > 0:
                        _close(diff, deltas, open_iou[qu], v, opened[qu])
                if j == 0:
                    r, c, cu = rq, cq, qu
                    parent[_u(p)] = r
                    _grow_box(bb, cu, x, y)
                    continue
                r, c, cq = _link(parent, bb, r, c, rq, cq)
                cu, qu = _u(c), _u(cq)
                n_comp -= 1
                opened[qu] = -1
                if do_single:
                    area2[cu] += area2[qu]
                    key[cu] = key[qu] if key[qu] < key[cu] else key[cu]
            if do_single:
                area2[cu] += (lut >> 15) & 7
                key[cu] = p if p < key[cu] else key[cu]
        for i in range(tc):
            cu = _u(touched[i])
            if opened[cu] < 0 or opened[cu] == v:
                continue
            opened[cu] = v
            # Padded coordinates are shifted by one. The contour box reaches one pixel
            # past the component on the right and bottom, clipped to the frame.
            x1 = bb[cu, 2] if bb[cu, 2] < w - 1 else w - 1
            y1 = bb[cu, 3] if bb[cu, 3] < h - 1 else h - 1
            open_iou[cu] = _best_iou(bb[cu, 0] - 1, bb[cu, 1] - 1, x1, y1, gt, g_lo, g_hi)
            if do_single:
                hsize = _heap_push(hval, hroot, hsize, area2[cu] * npad + key[cu], touched[i])
        if do_single:
            while True:
                cu = _u(hroot[0])
                if opened[cu] >= 0 and hval[0] == area2[cu] * npad + key[cu]:
                    break
                hsize = _heap_pop(hval, hroot, hsize)
            out[v - 1] = open_iou[_u(hroot[0])]
        if last_hole < 0 and n_comp * 4 != euler4:
            last_hole = v - 1
    if do_multi:
        for c in range(n_new):
            if opened[c] > 0:
                _close(diff, deltas, open_iou[c], 0, opened[c])
    for idx in range(start[1], start[256]):
        parent[_u(order[idx])] = -1
    return last_hole


@njit(cache=True, nogil=True)
def _hole_sweep(img, h, w, fill, gt, g_lo, g_hi, deltas, diff, ws):
    """Holes of {img > c} at every cut-off: adds each hole version's interval to diff.

    Background components (4-connected) of {img <= c} grown from low values over the only
    pixels ever inside a hole (img < fill, grouped by value in ``ws`` order/start). A
    component is a hole from its birth until its fill level, where it joins the outside.
    """
    order, start, parent, bb = ws.order, ws.start, ws.parent, ws.box
    opened, open_iou, stamp, touched = ws.opened, ws.open_iou, ws.stamp, ws.touched
    wp = w + 2
    ymul = ((1 << 40) + wp - 1) // wp
    n_new = 0
    for v in range(256):
        s = start[v]
        e = start[v + 1]
        if s == e:
            continue
        tc = 0
        for idx in range(s, e):
            p = np.int64(order[_u(idx)])
            y = (p * ymul) >> 40  # p // wp
            x = p - y * wp
            r = -1
            c = -1
            for q in (p - wp, p - 1, p + 1, p + wp):
                if parent[_u(q)] == -1:
                    continue
                rq = _root(parent, q)
                if rq == r:
                    continue
                cq = _component(parent, rq)
                qu = _u(cq)
                if stamp[qu] != v:
                    tc = _mark_touched(stamp, touched, tc, cq, v)
                    if opened[qu] >= 0:
                        _close(diff, deltas, open_iou[qu], opened[qu], v)
                if r < 0:
                    r = rq
                    c = cq
                    continue
                r, c, cq = _link(parent, bb, r, c, rq, cq)
                opened[_u(cq)] = -2
            if r < 0:
                c = n_new
                n_new += 1
                parent[_u(p)] = -2 - c
                cu = _u(c)
                _new_box(bb, cu, x, y)
                opened[cu] = -1
                tc = _mark_touched(stamp, touched, tc, c, v)
                continue
            parent[_u(p)] = r
            _grow_box(bb, _u(c), x, y)
        for i in range(tc):
            cu = _u(touched[i])
            if opened[cu] == -2 or opened[cu] == v:
                continue
            opened[cu] = v
            # Contour through the surrounding foreground: the hole's box dilated by one
            # (padded coordinates are shifted by one), then one more pixel right and bottom.
            x1 = bb[cu, 2] + 1 if bb[cu, 2] + 1 < w - 1 else w - 1
            y1 = bb[cu, 3] + 1 if bb[cu, 3] + 1 < h - 1 else h - 1
            open_iou[cu] = _best_iou(bb[cu, 0] - 2, bb[cu, 1] - 2, x1, y1, gt, g_lo, g_hi)
    for idx in range(start[256]):
        p = order[idx]
        if parent[_u(p)] < -1:
            cu = _u(_component(parent, p))
            # Alive until its fill level, where it joins the outside background.
            _close(diff, deltas, open_iou[cu], opened[cu], fill[_u(p)])
    for idx in range(start[256]):
        parent[_u(order[idx])] = -1


# One thread's buffers for the sweeps of [h, w] maps: name -> (dtype, length), the length
# counted in padded pixels n = (h + 2) * (w + 2) (a map has at most n components).
_BUFFERS = {
    "order": (np.int32, "n"),  # pixels grouped by value (`_place`)
    "start": (np.int64, 257),  # bounds of the value groups in order
    "parent": (np.int32, "n"),  # union-find: -1 outside the set, parent pixel, -2 - component
    "box": (np.int32, ("n", 4)),  # per component: x0, y0, x1, y1
    "opened": (np.int32, "n"),  # level its open version started; 0/-1 none, -2 merged away
    "open_iou": (np.float64, "n"),  # best IoU of the open version's box
    "stamp": (np.int32, "n"),  # last level it was touched
    "touched": (np.int32, "n"),  # components touched at the current level
    "area2": (np.int64, "n"),  # single mode: twice its contour area
    "key": (np.int64, "n"),  # single mode: its first pixel in raster order
    "heap_value": (np.int64, "n+1"),  # single mode: max-heap of area2 * n + key ...
    "heap_component": (np.int32, "n+1"),  # ... and of the component it belongs to
    "img": (np.uint8, "n"),  # the quantized map in the zero-framed layout
    "fill": (np.uint8, "n"),  # its grey-level hole filling (`_fill_levels`)
    "seen": (np.int32, "n"),  # `_fill_levels`: visit marks
    "buckets": (np.int32, "n"),  # `_fill_levels`: pixels waiting by level
    "stack": (np.int32, "n"),  # `_fill_levels`: pixels of the level being flooded
    "hole_px": (np.int32, "n"),  # pixels ever inside a hole
    "counts": (np.int64, (4, 256)),  # value counts, one row per column mod 4 (`_load`)
    "bucket_end": (np.int64, 256),  # `_fill_levels`: end of each level's bucket
    "last_mark": (np.int64, 1),  # the visit mark used last
}
Workspace = namedtuple("Workspace", list(_BUFFERS))


def workspace(h: int, w: int) -> Workspace:
    """The buffers of one thread's sweeps for [h, w] maps (`_BUFFERS`)."""
    n = (h + 2) * (w + 2)
    lengths = {"n": n, "n+1": n + 1}

    def shape(length):
        if isinstance(length, tuple):
            return tuple(lengths.get(k, k) for k in length)
        return lengths.get(length, length)

    arrays = {name: np.zeros(shape(size), dtype) for name, (dtype, size) in _BUFFERS.items()}
    arrays["parent"][:] = -1
    return Workspace(**arrays)


@njit(cache=True, nogil=True)
def _count(diff, single_iou, top, empty_iou, thresholds, multi, single, cnt_m, cnt_s, loc_row):
    """One map's per-cut-off correctness -> per-threshold counts, accumulated in place.

    Args:
        diff: [D, 257] difference array of multi-contour correctness over cut-offs.
        single_iou: [257] IoU of the largest contour's box at each cut-off.
        top: the map's max u8 value (cut-offs >= top have no contour).
        empty_iou: IoU of the [0, 0, 0, 0] box, used where there is no contour.
        thresholds: [T] CAM thresholds; cut-off = int(t * top).
        multi, single: [D], [D1] IoU fractions.
        cnt_m, cnt_s: [D, T], [D1, T] counts, incremented.
        loc_row: [T] int: this image's correctness at each threshold for IoU ``which``
            (>= 0: multi[k], < 0: single[-1 - k]), written; or [0].
    """
    n_m = multi.size
    n_s = single.size
    flag_m = np.zeros((n_m + 1, 256), np.uint8)
    flag_s = np.zeros((n_s + 1, 256), np.uint8)
    for d in range(n_m):
        acc = 0
        for c in range(256):
            acc += diff[d, c]
            flag_m[d, c] = acc > 0 if c < top else empty_iou >= multi[d]
    for d in range(n_s):
        for c in range(256):
            flag_s[d, c] = (single_iou[c] if c < top else empty_iou) >= single[d]
    which = loc_row[0] if loc_row.size > 0 else 0
    for t in range(thresholds.size):
        c = int(thresholds[t] * top)
        if c > 255:
            c = 255
        for d in range(n_m):
            cnt_m[d, t] += flag_m[d, c]
        for d in range(n_s):
            cnt_s[d, t] += flag_s[d, c]
        if t < loc_row.size:
            loc_row[t] = flag_m[which, c] if which >= 0 else flag_s[-1 - which, c]


@njit(cache=True, nogil=True)
def box_flags_maps(maps, scale, h, w, gt, g_off, thresholds, multi, single, cnt_m, cnt_s, loc, ws):
    """Per-threshold box correctness of maps, accumulated in place (one thread's share).

    Arguments as in `box_flags_batch`, except: ``maps`` [N, H * W] flattened, of frame
    ``h`` x ``w``; ``loc[i, 0]`` holds ``loc_which`` on entry; ``ws`` is the `Workspace`
    of the calling thread.
    """
    img, fill, cnt, marks = ws.img, ws.fill, ws.counts, ws.last_mark
    diff = np.zeros((multi.size + 1, 257), np.int64)
    single_iou = np.zeros(257, np.float64)
    do_multi = multi.size > 0
    do_single = single.size > 0
    for i in range(maps.shape[0]):
        top = _load(maps[i], scale, h, w, img, cnt)
        g_lo, g_hi = g_off[i], g_off[i + 1]
        empty_iou = _best_iou(0, 0, 0, 0, gt, g_lo, g_hi)
        diff[:] = 0
        if top > 0:
            _place(img, h, w, cnt, ws.order, ws.start)
            last = _fg_sweep(
                img, h, w, top, gt, g_lo, g_hi, multi, do_multi, do_single, diff, single_iou, ws
            )
            if last >= 0:
                if do_single:
                    fill[:] = img  # the whole filled map is swept below
                if marks[0] == 2**31 - 1:
                    ws.seen[:] = 0
                    marks[0] = 0
                marks[0] += 1
                n_hp = _fill_levels(img, h, w, last, fill, marks[0], ws)
                if do_multi:
                    _bucket_list(img, ws.hole_px, n_hp, ws.order, ws.start)
                    _hole_sweep(img, h, w, fill, gt, g_lo, g_hi, multi, diff, ws)
                if do_single:
                    # Largest contour among top-level components: sweep the filled map.
                    _bucket(fill, h, w, cnt, ws.order, ws.start)
                    _fg_sweep(
                        fill, h, w, top, gt, g_lo, g_hi, multi, False, True, diff, single_iou, ws
                    )
        _count(diff, single_iou, top, empty_iou, thresholds, multi, single, cnt_m, cnt_s, loc[i])


def box_flags_batch(
    maps, scale, gt, g_off, thresholds, multi, single, loc_which, cnt_m, cnt_s, loc
):
    """Per-threshold box correctness of a batch of maps, accumulated in place.

    Maps are independent: blocks of maps go to the metric threads (`_threads`), each with
    its own workspace and counts, summed at the end, so the counts do not depend on the
    number of threads.

    Args:
        maps: [N, H, W] score maps: float32/float64 in [0, 1] (checked), quantized here in
            their own type, or uint8 already quantized.
        scale: 255 in the maps' float type, or 1.0 for uint8 maps.
        gt: [M, 4] int64 ground-truth boxes (x0, y0, x1, y1); image n owns
            gt[g_off[n]:g_off[n + 1]].
        g_off: [N + 1] int64 offsets into gt.
        thresholds: [T] float64 CAM thresholds in [0, 1).
        multi: [D] float64 IoU fractions of the multi-contour mode (may be empty).
        single: [D1] float64 IoU fractions of the largest-contour mode (may be empty).
        loc_which: None, or which counts fill ``loc``: k >= 0 multi[k], k < 0 single[-1 - k].
        cnt_m: [D, T] int64 counts of correct images, incremented.
        cnt_s: [D1, T] int64 counts, incremented.
        loc: [N, T] int64 per-image correctness for ``loc_which`` (written), or [N, 0].
    """
    n_img, h, w = maps.shape
    npad = (h + 2) * (w + 2)
    # int32 pixel indices, and the sweeps divide by the row stride with a multiply.
    if npad >= 1 << 31 or npad * (w + 2) >= 1 << 40:
        raise ValueError(f"score maps of {h}x{w} pixels are too large for the sweep")
    if n_img == 0:
        return
    flat = maps.reshape(n_img, h * w)
    if loc.shape[1]:
        loc[:, 0] = loc_which
    n_slots = min(_threads.get_num_threads(), n_img)
    spaces = [None] * n_slots
    counts_m = np.zeros((n_slots,) + cnt_m.shape, np.int64)
    counts_s = np.zeros((n_slots,) + cnt_s.shape, np.int64)

    def work(lo: int, hi: int, slot: int) -> None:
        if spaces[slot] is None:
            spaces[slot] = workspace(h, w)
        box_flags_maps(
            flat[lo:hi], scale, h, w, gt, g_off[lo : hi + 1], thresholds, multi, single,
            counts_m[slot], counts_s[slot], loc[lo:hi], spaces[slot],
        )  # fmt: skip

    _threads.run_blocks(n_img, 1, work)
    cnt_m += counts_m.sum(axis=0)
    cnt_s += counts_s.sum(axis=0)
