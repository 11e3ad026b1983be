"""Compiled union-find sweeps: every contour of a map, over all cut-offs, in one pass each.

`sweep_foreground` grows the foreground components (8-connected) of ``{img > c}`` from
high to low values; a component's contour box is its bounding box. The same sweep tracks
the Euler number (`_rings`), hence whether holes exist at a cut-off. `sweep_holes` grows
the holes: 4-connected background regions of ``{img <= c}`` that do not touch the image
border, from low to high values, over the pixels ever inside a hole; a hole's contour runs
through the foreground pixels around it, so its box is the hole's box dilated by one.

Each component version (a component between two changes) is alive over an interval of
cut-offs; its best IoU against the ground truth marks that interval, for every IoU
threshold it reaches, in the difference array ``alive`` [D + 1, 257] (`mark_alive`).
Single-contour mode instead records, per cut-off, the IoU of the contour of largest
``cv2.contourArea`` (a max-heap over the components by area, then raster key).

Union-find: ``parent[p]`` is -1 outside the set, a pixel index for linked pixels, and
``-2 - k`` at the root of component ``k``, whose data live in the workspace arrays indexed
by ``k`` (``box``, ``opened``, ``open_iou``, ...).
"""

from collections import namedtuple

import numpy as np

from wsol.metrics import _rings
from wsol.metrics._compiled import inline_kernel, kernel

_u = np.uint32

# One map's per-cut-off results: ``alive`` [D + 1, 257] int64, the difference array of
# multi-contour correctness per IoU threshold; ``single_iou`` [257] float64, the IoU of the
# largest contour's box at each cut-off.
Marks = namedtuple("Marks", ["alive", "single_iou"])


@inline_kernel
def best_iou(x0, y0, x1, y1, gt):
    """Max inclusive (+1) IoU of one box against the boxes gt [K, 4], in float64."""
    best = 0.0
    area_a = (x1 - x0 + 1) * (y1 - y0 + 1)
    for g in range(gt.shape[0]):
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


@inline_kernel
def mark_alive(alive, deltas, iou, lo, hi):
    """Mark cut-offs [lo, hi) correct for every IoU threshold (deltas [D]) iou reaches."""
    for d in range(deltas.size):
        if iou >= deltas[d]:
            alive[d, _u(lo)] += 1
            alive[d, _u(hi)] -= 1


@inline_kernel
def _heap_push(heap_value, heap_comp, size, value, comp):
    i = size
    heap_value[_u(i)] = value
    heap_comp[_u(i)] = comp
    while i > 0:
        up = (i - 1) >> 1
        if heap_value[_u(up)] >= heap_value[_u(i)]:
            break
        heap_value[_u(up)], heap_value[_u(i)] = heap_value[_u(i)], heap_value[_u(up)]
        heap_comp[_u(up)], heap_comp[_u(i)] = heap_comp[_u(i)], heap_comp[_u(up)]
        i = up
    return size + 1


@inline_kernel
def _heap_pop(heap_value, heap_comp, size):
    size -= 1
    heap_value[0] = heap_value[_u(size)]
    heap_comp[0] = heap_comp[_u(size)]
    i = 0
    while True:
        c = 2 * i + 1
        if c >= size:
            break
        if c + 1 < size and heap_value[_u(c + 1)] > heap_value[_u(c)]:
            c += 1
        if heap_value[_u(i)] >= heap_value[_u(c)]:
            break
        heap_value[_u(c)], heap_value[_u(i)] = heap_value[_u(i)], heap_value[_u(c)]
        heap_comp[_u(c)], heap_comp[_u(i)] = heap_comp[_u(i)], heap_comp[_u(c)]
        i = c
    return size


@inline_kernel
def _new_box(box, k, x, y):
    """Box of component ``k`` born at pixel (x, y): rows are x0, y0, x1, y1."""
    box[k, 0] = x
    box[k, 1] = y
    box[k, 2] = x
    box[k, 3] = y


@inline_kernel
def _grow_box(box, k, x, y):
    """Extend component ``k``'s box to pixel (x, y)."""
    box[k, 0] = x if x < box[k, 0] else box[k, 0]
    box[k, 1] = y if y < box[k, 1] else box[k, 1]
    box[k, 2] = x if x > box[k, 2] else box[k, 2]
    box[k, 3] = y if y > box[k, 3] else box[k, 3]


@inline_kernel
def _link(parent, box, root, k, other_root, other_k):
    """Union of the components rooted at ``root`` (index ``k``) and ``other_root``
    (index ``other_k``).

    The one with the smaller box (half perimeter) goes under the other, whose box grows to
    hold both. Returns (root, index) of the union and the index of the absorbed component.
    """
    ku, ou = _u(k), _u(other_k)
    if (
        box[ou, 2] - box[ou, 0] + box[ou, 3] - box[ou, 1]
        > box[ku, 2] - box[ku, 0] + box[ku, 3] - box[ku, 1]
    ):
        root, other_root = other_root, root
        k, other_k = other_k, k
        ku, ou = ou, ku
    parent[_u(other_root)] = root
    box[ku, 0] = box[ou, 0] if box[ou, 0] < box[ku, 0] else box[ku, 0]
    box[ku, 1] = box[ou, 1] if box[ou, 1] < box[ku, 1] else box[ku, 1]
    box[ku, 2] = box[ou, 2] if box[ou, 2] > box[ku, 2] else box[ku, 2]
    box[ku, 3] = box[ou, 3] if box[ou, 3] > box[ku, 3] else box[ku, 3]
    return root, k, other_k


@inline_kernel
def _touch(stamp, touched, n_touched, k, level):
    """List component ``k`` among those touched at ``level``; returns the new count."""
    stamp[_u(k)] = level
    touched[_u(n_touched)] = k
    return n_touched + 1


@inline_kernel
def _index(parent, root):
    """Index of the component rooted at pixel ``root``."""
    return -2 - np.int64(parent[_u(root)])


@inline_kernel
def _find(parent, x):
    """Root pixel of x (path halving)."""
    while True:
        px = parent[_u(x)]
        if px < 0:
            return x
        ppx = parent[_u(px)]
        if ppx < 0:
            return px
        parent[_u(x)] = ppx
        x = ppx


@inline_kernel
def _in_set_mask(parent, p, wp):
    """8-bit mask of p's neighbours already in the set, in ring order (`_rings`)."""
    return (
        (parent[_u(p - wp - 1)] != -1)
        | ((parent[_u(p - wp)] != -1) << 1)
        | ((parent[_u(p - wp + 1)] != -1) << 2)
        | ((parent[_u(p + 1)] != -1) << 3)
        | ((parent[_u(p + wp + 1)] != -1) << 4)
        | ((parent[_u(p + wp)] != -1) << 5)
        | ((parent[_u(p + wp - 1)] != -1) << 6)
        | ((parent[_u(p - 1)] != -1) << 7)
    )


@inline_kernel
def _open_touched(ws, n_touched, level, frame, gt, single, heap_size):
    """Open a new version of every component touched at ``level`` (not merged away, not
    opened already): its box's IoU, and its heap entry in single mode. Returns the heap
    size."""
    box, opened, open_iou = ws.box, ws.opened, ws.open_iou
    h, w, npad = frame.height, frame.width, ws.img.size
    for i in range(n_touched):
        k = _u(ws.touched[i])
        if opened[k] < 0 or opened[k] == level:
            continue
        opened[k] = level
        # Framed coordinates are shifted by one. The contour box reaches one pixel past
        # the component on the right and bottom, clipped to the map.
        x1 = box[k, 2] if box[k, 2] < w - 1 else w - 1
        y1 = box[k, 3] if box[k, 3] < h - 1 else h - 1
        open_iou[k] = best_iou(box[k, 0] - 1, box[k, 1] - 1, x1, y1, gt)
        if single:
            key = ws.area2[k] * npad + ws.key[k]
            heap_size = _heap_push(ws.heap_value, ws.heap_component, heap_size, key, k)
    return heap_size


@inline_kernel
def _largest_iou(ws, heap_size):
    """Drop stale heap entries; returns (heap size, IoU of the largest contour)."""
    while True:
        k = _u(ws.heap_component[0])
        current = ws.area2[k] * ws.img.size + ws.key[k]
        if ws.opened[k] >= 0 and ws.heap_value[0] == current:
            break
        heap_size = _heap_pop(ws.heap_value, ws.heap_component, heap_size)
    return heap_size, ws.open_iou[_u(ws.heap_component[0])]


@kernel
def sweep_foreground(img, top, frame, gt, deltas, single, marks, ws):
    """Foreground components of {img > c} for every cut-off c in [0, top).

    Needs ``ws.order``/``ws.start`` from `_levels.group_by_value`. Multi (``deltas`` [D]
    not empty): adds each component version's interval to ``marks.alive``. Single:
    ``marks.single_iou[c]`` = IoU of the largest-area contour's box at cut-off c (equal
    areas: the component whose first pixel in raster order comes last, as OpenCV lists
    top-level contours bottom-up). Returns the highest cut-off with a hole (-1 if none).
    """
    order, start, parent, box = ws.order, ws.start, ws.parent, ws.box
    opened, stamp, touched = ws.opened, ws.stamp, ws.touched
    area2, first = ws.area2, ws.key
    alive, single_iou = marks.alive, marks.single_iou
    multi = deltas.size > 0
    wp, row_mul = frame.stride, frame.row_mul
    ring_offset = np.empty(8, np.int64)  # ring order of `_rings`
    ring_offset[0], ring_offset[1], ring_offset[2], ring_offset[3] = -wp - 1, -wp, -wp + 1, 1
    ring_offset[4], ring_offset[5], ring_offset[6], ring_offset[7] = wp + 1, wp, wp - 1, -1
    n_new = 0  # components created (their indices)
    n_comp = 0  # components alive
    euler4 = 0  # 4 x Euler number of the set
    last_hole = -1
    heap_size = 0
    for v in range(top, 0, -1):
        if start[v] == start[v + 1]:
            if single:
                single_iou[v - 1] = single_iou[v]
            if last_hole < 0 and n_comp * 4 != euler4:
                last_hole = v - 1
            continue
        n_touched = 0
        for idx in range(start[v], start[v + 1]):
            p = np.int64(order[_u(idx)])
            word = _rings.RING[_u(_in_set_mask(parent, p, wp))]
            euler4 += _rings.euler4_change(word)
            y = (p * row_mul) >> 40  # p // wp
            x = p - y * wp
            runs = _rings.n_runs(word)
            if runs == 0:  # a new component
                k = n_new
                n_new += 1
                n_comp += 1
                parent[_u(p)] = -2 - k
                _new_box(box, _u(k), x, y)
                opened[_u(k)] = 0
                n_touched = _touch(stamp, touched, n_touched, k, v)
                if single:
                    first[_u(k)] = p
                    area2[_u(k)] = 0
                continue
            # The pixel joins the component of its first run of set neighbours; the
            # components of the other runs merge into it.
            root, k = -1, -1
            for j in range(runs):
                other_root = _find(parent, p + ring_offset[_rings.run_start(word, j)])
                if j > 0 and other_root == root:
                    continue
                other = _index(parent, other_root)
                if stamp[_u(other)] != v:
                    n_touched = _touch(stamp, touched, n_touched, other, v)
                    if multi and opened[_u(other)] > 0:  # its version ends here
                        mark_alive(alive, deltas, ws.open_iou[_u(other)], v, opened[_u(other)])
                if j == 0:
                    root, k = other_root, other
                    parent[_u(p)] = root
                    _grow_box(box, _u(k), x, y)
                    continue
                root, k, other = _link(parent, box, root, k, other_root, other)
                n_comp -= 1
                opened[_u(other)] = -1
                if single:
                    area2[_u(k)] += area2[_u(other)]
                    first[_u(k)] = min(first[_u(k)], first[_u(other)])
            if single:
                area2[_u(k)] += _rings.area_gain(word)
                first[_u(k)] = min(first[_u(k)], p)
        heap_size = _open_touched(ws, n_touched, v, frame, gt, single, heap_size)
        if single:
            heap_size, single_iou[v - 1] = _largest_iou(ws, heap_size)
        if last_hole < 0 and n_comp * 4 != euler4:
            last_hole = v - 1
    if multi:
        for k in range(n_new):
            if opened[k] > 0:
                mark_alive(alive, deltas, ws.open_iou[k], 0, opened[k])
    for idx in range(start[1], start[256]):
        parent[_u(order[idx])] = -1
    return last_hole


@kernel
def sweep_holes(img, frame, fill, gt, deltas, alive, ws):
    """Holes of {img > c} at every cut-off: adds each hole version's interval to ``alive``.

    Background components (4-connected) of {img <= c} grown from low values over the only
    pixels ever inside a hole (img < fill, grouped by value in ``ws.order``/``ws.start``).
    A component is a hole from its birth until its fill level, where it joins the outside.
    ``ws.opened``: the level its open version started; -1 none yet, -2 merged away.
    """
    order, start, parent, box = ws.order, ws.start, ws.parent, ws.box
    opened, open_iou, stamp, touched = ws.opened, ws.open_iou, ws.stamp, ws.touched
    h, w, wp, row_mul = frame.height, frame.width, frame.stride, frame.row_mul
    n_new = 0
    for v in range(256):
        if start[v] == start[v + 1]:
            continue
        n_touched = 0
        for idx in range(start[v], start[v + 1]):
            p = np.int64(order[_u(idx)])
            y = (p * row_mul) >> 40  # p // wp
            x = p - y * wp
            root, k = -1, -1
            for q in (p - wp, p - 1, p + 1, p + wp):
                if parent[_u(q)] == -1:
                    continue
                other_root = _find(parent, q)
                if other_root == root:
                    continue
                other = _index(parent, other_root)
                if stamp[_u(other)] != v:
                    n_touched = _touch(stamp, touched, n_touched, other, v)
                    if opened[_u(other)] >= 0:  # its version ends here
                        mark_alive(alive, deltas, open_iou[_u(other)], opened[_u(other)], v)
                if root < 0:
                    root, k = other_root, other
                    continue
                root, k, other = _link(parent, box, root, k, other_root, other)
                opened[_u(other)] = -2
            if root < 0:  # a new hole
                k = n_new
                n_new += 1
                parent[_u(p)] = -2 - k
                _new_box(box, _u(k), x, y)
                opened[_u(k)] = -1
                n_touched = _touch(stamp, touched, n_touched, k, v)
                continue
            parent[_u(p)] = root
            _grow_box(box, _u(k), x, y)
        for i in range(n_touched):
            k = _u(touched[i])
            if opened[k] == -2 or opened[k] == v:
                continue
            opened[k] = v
            # Contour through the surrounding foreground: the hole's box dilated by one
            # (framed coordinates are shifted by one), then one more pixel right and bottom.
            x1 = box[k, 2] + 1 if box[k, 2] + 1 < w - 1 else w - 1
            y1 = box[k, 3] + 1 if box[k, 3] + 1 < h - 1 else h - 1
            open_iou[k] = best_iou(box[k, 0] - 2, box[k, 1] - 2, x1, y1, gt)
    for idx in range(start[256]):
        p = order[idx]
        if parent[_u(p)] < -1:
            k = _u(_index(parent, p))
            # Alive until its fill level, where it joins the outside background.
            mark_alive(alive, deltas, open_iou[k], opened[k], fill[_u(p)])
    for idx in range(start[256]):
        parent[_u(order[idx])] = -1
