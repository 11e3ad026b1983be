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
"""

import numpy as np
from numba import njit


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


@njit(cache=True)
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


@njit(cache=True)
def _close(diff, deltas, iou, lo, hi):
    """Mark cut-offs [lo, hi) correct for every IoU threshold that iou reaches."""
    for d in range(deltas.size):
        if iou >= deltas[d]:
            diff[d, lo] += 1
            diff[d, hi] -= 1


@njit(cache=True)
def _heap_push(hval, hroot, size, val, root):
    i = size
    hval[i] = val
    hroot[i] = root
    while i > 0:
        up = (i - 1) >> 1
        if hval[up] >= hval[i]:
            break
        hval[up], hval[i] = hval[i], hval[up]
        hroot[up], hroot[i] = hroot[i], hroot[up]
        i = up
    return size + 1


@njit(cache=True)
def _heap_pop(hval, hroot, size):
    size -= 1
    hval[0] = hval[size]
    hroot[0] = hroot[size]
    i = 0
    while True:
        c = 2 * i + 1
        if c >= size:
            break
        if c + 1 < size and hval[c + 1] > hval[c]:
            c += 1
        if hval[i] >= hval[c]:
            break
        hval[c], hval[i] = hval[i], hval[c]
        hroot[c], hroot[i] = hroot[i], hroot[c]
        i = c
    return size


@njit(cache=True)
def _bucket(img, h, w, order, start):
    """Interior pixels of a padded map grouped by value, raster order within a value:
    order[start[v]:start[v + 1]] (neighbours processed together stay in cache)."""
    wp = w + 2
    cnt = np.zeros((4, 256), np.int32)  # four counters break store-to-load chains
    for y in range(1, h + 1):
        base = y * wp + 1
        for x in range(w):
            cnt[x & 3, img[base + x]] += 1
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
            v = img[base + x]
            order[pos[v]] = base + x
            pos[v] += 1


@njit(cache=True)
def _fill_levels(img, h, w, last, order, start, fill, seen, mark, head, nxt, hole_px):
    """Grey-level hole filling of a padded map, knowing no hole exists above cut-off ``last``.

    ``fill`` = min over 4-paths to the frame of the path's max value, written for the
    pixels <= last (the others keep theirs: it is their own value). A bucket-queue flood
    from the frame through the pixels <= last; those it cannot reach are enclosed up to
    ``last`` but not beyond, so their fill is ``last + 1``. ``seen[p] == mark`` marks
    visited pixels (a fresh mark per call, no clearing). Needs ``order``/``start`` from
    `_bucket(img)`. Writes the pixels with ``img < fill`` (the only ones ever inside a hole)
    to ``hole_px`` and returns their number.
    """
    wp = w + 2
    n = img.size
    for v in range(256):
        head[v] = -1
    for x in range(wp):
        seen[x] = mark
        seen[n - wp + x] = mark
    for y in range(h + 2):
        seen[y * wp] = mark
        seen[y * wp + wp - 1] = mark
    # Seed the pixels along the frame (each once), by value.
    for y in range(1, h + 1):
        step = 1 if y == 1 or y == h else w - 1 if w > 1 else 1
        for x in range(1, w + 1, step):
            p = y * wp + x
            seen[p] = mark
            if img[p] <= last:
                nxt[p] = head[img[p]]
                head[img[p]] = p
    n_holes = 0
    for lev in range(last + 1):
        while head[lev] >= 0:
            p = head[lev]
            head[lev] = nxt[p]
            fill[p] = lev
            if img[p] < lev:
                hole_px[n_holes] = p
                n_holes += 1
            for q in (p - wp, p - 1, p + 1, p + wp):
                if seen[q] == mark or img[q] > last:
                    continue
                seen[q] = mark
                f = img[q] if img[q] > lev else lev
                nxt[q] = head[f]
                head[f] = q
    for idx in range(start[last + 1]):
        p = order[idx]
        if seen[p] != mark:
            fill[p] = last + 1
            hole_px[n_holes] = p
            n_holes += 1
    return n_holes


@njit(cache=True)
def _bucket_list(img, pixels, n, order, start):
    """pixels[:n] grouped by value: order[start[v]:start[v + 1]]."""
    for v in range(257):
        start[v] = 0
    for i in range(n):
        start[img[pixels[i]] + 1] += 1
    pos = np.empty(256, np.int64)
    for v in range(256):
        start[v + 1] += start[v]
        pos[v] = start[v]
    for i in range(n):
        v = img[pixels[i]]
        order[pos[v]] = pixels[i]
        pos[v] += 1


@njit(cache=True)
def _root(parent, x):
    """Root pixel of x (path halving). Roots hold -2 - (compact component index)."""
    while True:
        px = parent[x]
        if px < 0:
            return x
        ppx = parent[px]
        if ppx < 0:
            return px
        parent[x] = ppx
        x = ppx


@njit(cache=True)
def _fg_sweep(img, h, w, top, gt, g_lo, g_hi, deltas, do_multi, do_single, diff, out, ws):
    """Foreground components of {img > c} for every cut-off c in [0, top).

    Needs ``ws`` order/start from `_bucket(img)`. Multi: adds each component version's
    interval to ``diff`` ([D, 257]). Single: ``out[c]`` = IoU of the largest-area contour's
    box at cut-off c. Returns the highest cut-off with a hole (-1 if none).

    ``parent``: -1 outside the set, a pixel index for linked pixels, ``-2 - c`` for the
    root of component ``c``, whose data live in small arrays indexed by ``c``.
    """
    order, start, parent = ws[0], ws[1], ws[2]
    bx0, by0, bx1, by1 = ws[3], ws[4], ws[5], ws[6]
    opened, open_iou, stamp, touched = ws[7], ws[8], ws[9], ws[10]
    area2, key, hval, hroot = ws[11], ws[12], ws[13], ws[14]
    wp = w + 2
    npad = img.size
    ymul = ((1 << 40) + wp - 1) // wp
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
            p = order[idx]
            m = (
                (parent[p + off[0]] != -1)
                | ((parent[p + off[1]] != -1) << 1)
                | ((parent[p + off[2]] != -1) << 2)
                | ((parent[p + 1] != -1) << 3)
                | ((parent[p + off[4]] != -1) << 4)
                | ((parent[p + off[5]] != -1) << 5)
                | ((parent[p + off[6]] != -1) << 6)
                | ((parent[p - 1] != -1) << 7)
            )
            lut = _PACKED[m]
            euler4 += (lut >> 18) - 16
            y = (p * ymul) >> 40  # p // wp, exact for the frame sizes accepted
            x = p - y * wp
            n_run = lut & 7
            if n_run == 0:
                c = n_new
                n_new += 1
                n_comp += 1
                parent[p] = -2 - c
                bx0[c] = x
                bx1[c] = x
                by0[c] = y
                by1[c] = y
                opened[c] = 0
                stamp[c] = v
                touched[tc] = c
                tc += 1
                if do_single:
                    key[c] = p
                    area2[c] = 0
                continue
            r = _root(parent, p + off[(lut >> 3) & 7])
            parent[p] = r
            c = -2 - parent[r]
            if stamp[c] != v:
                stamp[c] = v
                touched[tc] = c
                tc += 1
                if do_multi and opened[c] > 0:
                    _close(diff, deltas, open_iou[c], v, opened[c])
            bx0[c] = x if x < bx0[c] else bx0[c]
            bx1[c] = x if x > bx1[c] else bx1[c]
            by0[c] = y if y < by0[c] else by0[c]
            by1[c] = y if y > by1[c] else by1[c]
            for j in range(1, n_run):
                rq = _root(parent, p + off[(lut >> (3 + 3 * j)) & 7])
                if rq == r:
                    continue
                cq = -2 - parent[rq]
                if stamp[cq] != v:
                    stamp[cq] = v
                    touched[tc] = cq
                    tc += 1
                    if do_multi and opened[cq] > 0:
                        _close(diff, deltas, open_iou[cq], v, opened[cq])
                # Link the component with the smaller box under the other one.
                if bx1[cq] - bx0[cq] + by1[cq] - by0[cq] > bx1[c] - bx0[c] + by1[c] - by0[c]:
                    r, rq = rq, r
                    c, cq = cq, c
                parent[rq] = r
                n_comp -= 1
                opened[cq] = -1
                bx0[c] = bx0[cq] if bx0[cq] < bx0[c] else bx0[c]
                by0[c] = by0[cq] if by0[cq] < by0[c] else by0[c]
                bx1[c] = bx1[cq] if bx1[cq] > bx1[c] else bx1[c]
                by1[c] = by1[cq] if by1[cq] > by1[c] else by1[c]
                if do_single:
                    area2[c] += area2[cq]
                    key[c] = key[cq] if key[cq] < key[c] else key[c]
            if do_single:
                area2[c] += (lut >> 15) & 7
                key[c] = p if p < key[c] else key[c]
        for i in range(tc):
            c = touched[i]
            if opened[c] < 0 or opened[c] == v:
                continue
            opened[c] = v
            # Padded coordinates are shifted by one. The contour box reaches one pixel
            # past the component on the right and bottom, clipped to the frame.
            x1 = bx1[c] if bx1[c] < w - 1 else w - 1
            y1 = by1[c] if by1[c] < h - 1 else h - 1
            open_iou[c] = _best_iou(bx0[c] - 1, by0[c] - 1, x1, y1, gt, g_lo, g_hi)
            if do_single:
                hsize = _heap_push(hval, hroot, hsize, area2[c] * npad + key[c], c)
        if do_single:
            while True:
                c = hroot[0]
                if opened[c] >= 0 and hval[0] == area2[c] * npad + key[c]:
                    break
                hsize = _heap_pop(hval, hroot, hsize)
            out[v - 1] = open_iou[hroot[0]]
        if last_hole < 0 and n_comp * 4 != euler4:
            last_hole = v - 1
    if do_multi:
        for c in range(n_new):
            if opened[c] > 0:
                _close(diff, deltas, open_iou[c], 0, opened[c])
    for idx in range(start[1], start[256]):
        parent[order[idx]] = -1
    return last_hole


@njit(cache=True)
def _hole_sweep(img, h, w, fill, gt, g_lo, g_hi, deltas, diff, ws):
    """Holes of {img > c} at every cut-off: adds each hole version's interval to diff.

    Background components (4-connected) of {img <= c} grown from low values over the only
    pixels ever inside a hole (img < fill, grouped by value in ``ws`` order/start). A
    component is a hole from its birth until its fill level, where it joins the outside.
    """
    order, start, parent = ws[0], ws[1], ws[2]
    bx0, by0, bx1, by1 = ws[3], ws[4], ws[5], ws[6]
    opened, open_iou, stamp, touched = ws[7], ws[8], ws[9], ws[10]
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
            p = order[idx]
            y = (p * ymul) >> 40  # p // wp
            x = p - y * wp
            r = -1
            c = -1
            for q in (p - wp, p - 1, p + 1, p + wp):
                if parent[q] == -1:
                    continue
                rq = _root(parent, q)
                if rq == r:
                    continue
                cq = -2 - parent[rq]
                if stamp[cq] != v:
                    stamp[cq] = v
                    touched[tc] = cq
                    tc += 1
                    if opened[cq] >= 0:
                        _close(diff, deltas, open_iou[cq], opened[cq], v)
                if r < 0:
                    r = rq
                    c = cq
                    continue
                if bx1[cq] - bx0[cq] + by1[cq] - by0[cq] > bx1[c] - bx0[c] + by1[c] - by0[c]:
                    r, rq = rq, r
                    c, cq = cq, c
                parent[rq] = r
                opened[cq] = -2
                bx0[c] = bx0[cq] if bx0[cq] < bx0[c] else bx0[c]
                by0[c] = by0[cq] if by0[cq] < by0[c] else by0[c]
                bx1[c] = bx1[cq] if bx1[cq] > bx1[c] else bx1[c]
                by1[c] = by1[cq] if by1[cq] > by1[c] else by1[c]
            if r < 0:
                c = n_new
                n_new += 1
                parent[p] = -2 - c
                bx0[c] = x
                bx1[c] = x
                by0[c] = y
                by1[c] = y
                opened[c] = -1
                stamp[c] = v
                touched[tc] = c
                tc += 1
                continue
            parent[p] = r
            bx0[c] = x if x < bx0[c] else bx0[c]
            bx1[c] = x if x > bx1[c] else bx1[c]
            by0[c] = y if y < by0[c] else by0[c]
            by1[c] = y if y > by1[c] else by1[c]
        for i in range(tc):
            c = touched[i]
            if opened[c] == -2 or opened[c] == v:
                continue
            opened[c] = v
            # Contour through the surrounding foreground: the hole's box dilated by one
            # (padded coordinates are shifted by one), then one more pixel right and bottom.
            x1 = bx1[c] + 1 if bx1[c] + 1 < w - 1 else w - 1
            y1 = by1[c] + 1 if by1[c] + 1 < h - 1 else h - 1
            open_iou[c] = _best_iou(bx0[c] - 2, by0[c] - 2, x1, y1, gt, g_lo, g_hi)
    for idx in range(start[256]):
        p = order[idx]
        if parent[p] < -1:
            c = -2 - parent[p]
            # Alive until its fill level, where it joins the outside background.
            _close(diff, deltas, open_iou[c], opened[c], fill[p])
    for idx in range(start[256]):
        parent[order[idx]] = -1


@njit(cache=True)
def _workspace(h, w):
    """Arrays shared by the sweeps of one frame size (per pixel, or per component)."""
    npad = (h + 2) * (w + 2)
    parent = np.empty(npad, np.int32)
    for p in range(npad):
        parent[p] = -1
    return (
        np.empty(npad, np.int32),  # order: pixels grouped by value
        np.zeros(257, np.int64),  # start: group boundaries
        parent,
        np.empty(npad, np.int32),  # bx0 (per component)
        np.empty(npad, np.int32),  # by0
        np.empty(npad, np.int32),  # bx1
        np.empty(npad, np.int32),  # by1
        np.empty(npad, np.int32),  # opened: level of the open version, 0/-1 none, -2 gone
        np.empty(npad, np.float64),  # open_iou
        np.empty(npad, np.int32),  # stamp: last level the component was touched
        np.empty(npad, np.int32),  # touched: components touched at the current level
        np.empty(npad, np.int64),  # area2: twice the contour area (single mode)
        np.empty(npad, np.int64),  # key: first pixel in raster order (single mode)
        np.empty(npad + 1, np.int64),  # heap values (single mode)
        np.empty(npad + 1, np.int32),  # heap components
    )


@njit(cache=True)
def _pad(u8, img):
    """Copy an [H, W] uint8 map into the zero-framed buffer; return its max."""
    h, w = u8.shape
    wp = w + 2
    top = 0
    for y in range(h):
        base = (y + 1) * wp + 1
        for x in range(w):
            val = u8[y, x]
            img[base + x] = val
            if val > top:
                top = val
    return top


@njit(cache=True)
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
        loc_row: [T] int: on entry, which IoU to report (>= 0: multi[k], < 0:
            single[-1 - k]); on return, this image's correctness at each threshold.
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


def box_flags_batch(u8, gt, g_off, thresholds, multi, single, loc_which, cnt_m, cnt_s, loc):
    """Per-threshold box correctness of a batch of quantized maps, accumulated in place.

    Orchestrated from Python, one map at a time (a compiled caller would compile every
    kernel a second time).

    Args:
        u8: [N, H, W] uint8 quantized score maps.
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
    n_img, h, w = u8.shape
    npad = (h + 2) * (w + 2)
    if npad * (w + 2) >= 1 << 40:  # the sweeps divide by the row stride with a multiply
        raise ValueError(f"score maps of {h}x{w} pixels are too large for the sweep")
    ws = _workspace(h, w)
    img = np.zeros(npad, np.uint8)
    fill = np.zeros(npad, np.uint8)
    seen = np.zeros(npad, np.int32)
    head = np.empty(256, np.int32)
    nxt = np.empty(npad, np.int32)
    hole_px = np.empty(npad, np.int32)
    diff = np.zeros((len(multi) + 1, 257), np.int64)
    single_iou = np.zeros(257, np.float64)
    do_multi, do_single = len(multi) > 0, len(single) > 0
    for i in range(n_img):
        top = _pad(u8[i], img)
        g_lo, g_hi = int(g_off[i]), int(g_off[i + 1])
        empty_iou = _best_iou(0, 0, 0, 0, gt, g_lo, g_hi)
        diff[:] = 0
        if top > 0:
            _bucket(img, h, w, ws[0], ws[1])
            last = _fg_sweep(
                img, h, w, top, gt, g_lo, g_hi, multi, do_multi, do_single, diff, single_iou, ws
            )
            if last >= 0:
                if do_single:
                    fill[:] = img  # the whole filled map is swept below
                n_hp = _fill_levels(
                    img, h, w, last, ws[0], ws[1], fill, seen, i + 1, head, nxt, hole_px
                )
                if do_multi:
                    _bucket_list(img, hole_px, n_hp, ws[0], ws[1])
                    _hole_sweep(img, h, w, fill, gt, g_lo, g_hi, multi, diff, ws)
                if do_single:
                    # Largest contour among top-level components: sweep the filled map.
                    _bucket(fill, h, w, ws[0], ws[1])
                    _fg_sweep(
                        fill, h, w, top, gt, g_lo, g_hi, multi, False, True, diff, single_iou, ws
                    )
        row = loc[i]
        if row.size:
            row[0] = loc_which
        _count(diff, single_iou, top, empty_iou, thresholds, multi, single, cnt_m, cnt_s, row)
