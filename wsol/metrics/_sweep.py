"""Compiled component-tree sweep: every CAM threshold's boxes of a map in one pass.

Why: the protocol thresholds a uint8 map at up to 1000 cut-offs and runs OpenCV's
`findContours` at each. After quantization there are at most 256 distinct masks and they
are nested, so the contours of all cut-offs follow from union-find sweeps over the pixels
sorted by value (`_components`): foreground components grown from high to low values,
and, only when holes exist, the holes grown from low to high values.

Single-contour mode keeps the contour of largest ``cv2.contourArea``. That contour is the
outer border of a top-level component, i.e. of an 8-connected component of ``{fill > c}``
with ``fill`` the grey-level hole filling of the map (holes and what they enclose have
smaller or equal areas and come later in OpenCV's order). Its polygon area through the
border-pixel centres is ``Q4 + Q3 / 2``, ``Qk`` counting the 2x2 windows holding k of its
pixels. These rules were checked against OpenCV 4.8, 4.10 and 5.0.

Per block of maps, `box_flags_batch` quantizes float maps to uint8 (`_pixels.quantize_batch`,
in their own float type); per map (`box_flags_maps`): `_levels.load_map` copies it into the
framed layout and counts the values, `_levels.group_by_value` sorts the pixels by value,
`_components.sweep_foreground` sweeps the foreground; if holes exist, `_levels.fill_holes`
computes the hole filling, `_components.sweep_holes` sweeps the holes (multi mode) and a
second `sweep_foreground` the filled map (single mode); `count_map` turns cut-offs into
thresholds. `box_flags_batch` spreads blocks of maps over the metric threads.
"""

from collections import namedtuple

import numpy as np

from wsol.metrics import _threads
from wsol.metrics._compiled import kernel
from wsol.metrics._components import Marks, best_iou, sweep_foreground, sweep_holes
from wsol.metrics._levels import fill_holes, frame_of, group_by_value, group_listed, load_map
from wsol.metrics._levels import regroup_by_value as regroup
from wsol.metrics._pixels import quantize_batch

# What a batch counts: ``thresholds`` [T] float64 CAM thresholds; ``multi`` [D] and
# ``single`` [D1] float64 IoU fractions of each contour mode (either may be empty);
# ``per_image`` which counts the per-image rows hold: k >= 0 multi[k], k < 0 single[-1 - k].
Plan = namedtuple("Plan", ["thresholds", "multi", "single", "per_image"])
# Counts of a block of maps, incremented: ``multi`` [D, T], ``single`` [D1, T] images
# correct per (IoU threshold, CAM threshold); ``per_image`` [N, T] each image's correctness
# for ``Plan.per_image``, written (or [N, 0]: not asked).
Tally = namedtuple("Tally", ["multi", "single", "per_image"])

# One thread's buffers for the sweeps of [h, w] maps: name -> (dtype, length), the length
# counted in framed pixels n = (h + 2) * (w + 2) (a map has at most n components).
_BUFFERS = {
    "order": (np.int32, "n"),  # pixels grouped by value (`group_by_value`)
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
    "fill": (np.uint8, "n"),  # its grey-level hole filling (`fill_holes`)
    "queued": (np.int32, "n"),  # `fill_holes`: == the call's mark while queued
    "queue": (np.int32, "n"),  # `fill_holes`: ring buffer of the pixels to spread from
    "hole_px": (np.int32, "n"),  # pixels ever inside a hole
    "counts": (np.int64, (4, 256)),  # value counts, one row per column mod 4 (`load_map`)
    "last_mark": (np.int64, 1),  # the queue mark used last
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


@kernel
def count_map(marks, top, empty_iou, plan, tally, row):
    """One map's per-cut-off correctness -> per-threshold counts, accumulated in ``tally``.

    Args:
        marks: the map's `Marks` (multi-contour difference array, single-contour IoUs).
        top: the map's max u8 value (cut-offs >= top have no contour).
        empty_iou: IoU of the [0, 0, 0, 0] box, used where there is no contour.
        plan: the batch's `Plan`; cut-off = int(t * top) for each threshold t.
        tally: the block's `Tally`; ``row`` is this map's row of ``tally.per_image``.
    """
    multi, single, thresholds = plan.multi, plan.single, plan.thresholds
    ok_multi = np.zeros((multi.size + 1, 256), np.uint8)
    ok_single = np.zeros((single.size + 1, 256), np.uint8)
    for d in range(multi.size):
        acc = 0
        for c in range(256):
            acc += marks.alive[d, c]
            ok_multi[d, c] = acc > 0 if c < top else empty_iou >= multi[d]
    for d in range(single.size):
        for c in range(256):
            ok_single[d, c] = (marks.single_iou[c] if c < top else empty_iou) >= single[d]
    which = plan.per_image
    per_image = tally.per_image[row]
    for t in range(thresholds.size):
        c = min(int(thresholds[t] * top), 255)
        for d in range(multi.size):
            tally.multi[d, t] += ok_multi[d, c]
        for d in range(single.size):
            tally.single[d, t] += ok_single[d, c]
        if t < per_image.size:
            per_image[t] = ok_multi[which, c] if which >= 0 else ok_single[-1 - which, c]


@kernel
def _sweep_holes_and_fill(top, frame, gt, plan, marks, ws):
    """The hole work of one map that has holes: hole filling, the hole sweep (multi mode)
    and the sweep of the filled map (single mode)."""
    img, fill, marker = ws.img, ws.fill, ws.last_mark
    if marker[0] == 2**31 - 1:
        ws.queued[:] = 0
        marker[0] = 0
    marker[0] += 1
    n_hole_px = fill_holes(img, frame, fill, marker[0], ws)
    if plan.multi.size > 0:
        group_listed(img, ws.hole_px, n_hole_px, ws.order, ws.start)
        sweep_holes(img, frame, fill, gt, plan.multi, marks.alive, ws)
    if plan.single.size > 0:
        # Largest contour among top-level components: sweep the filled map.
        regroup(fill, frame, ws.counts, ws.order, ws.start)
        # ``plan.single.size > 0`` (True here) rather than a literal True, which numba
        # would compile into a second copy of the sweep.
        sweep_foreground(fill, top, frame, gt, plan.multi[:0], plan.single.size > 0, marks, ws)


@kernel
def box_flags_maps(maps, frame, gt, gt_offsets, plan, tally, ws):
    """Per-threshold box correctness of maps, accumulated in ``tally`` (one thread's share).

    Arguments as in `box_flags_batch`, except: ``maps`` [N, H * W] uint8, flattened, of
    `Frame` ``frame``; ``gt_offsets`` [N + 1]; ``ws`` is the `Workspace` of the calling
    thread. Only uint8 maps come here, so this kernel and everything it calls compile once.
    """
    marks = Marks(np.zeros((plan.multi.size + 1, 257), np.int64), np.zeros(257, np.float64))
    single = plan.single.size > 0
    for i in range(maps.shape[0]):
        top = load_map(maps[i], frame, ws.img, ws.counts)
        boxes = gt[gt_offsets[i] : gt_offsets[i + 1]]
        marks.alive[:] = 0
        if top > 0:
            group_by_value(ws.img, frame, ws.counts, ws.order, ws.start)
            holes = sweep_foreground(ws.img, top, frame, boxes, plan.multi, single, marks, ws)
            if holes >= 0:
                _sweep_holes_and_fill(top, frame, boxes, plan, marks, ws)
        count_map(marks, top, best_iou(0, 0, 0, 0, boxes), plan, tally, i)


def box_flags_batch(maps, scale, gt, gt_offsets, plan: Plan, tally: Tally) -> None:
    """Per-threshold box correctness of a batch of maps, accumulated in ``tally``.

    Maps are independent: blocks of maps go to the metric threads (`_threads`), each with
    its own workspace and counts, summed at the end, so the counts do not depend on the
    number of threads.

    Args:
        maps: [N, H, W] score maps: float32/float64 in [0, 1] (checked), quantized here in
            their own type, or uint8 already quantized.
        scale: 255 in the maps' float type (ignored for uint8 maps).
        gt: [M, 4] int64 ground-truth boxes (x0, y0, x1, y1); image n owns
            gt[gt_offsets[n]:gt_offsets[n + 1]].
        gt_offsets: [N + 1] int64 offsets into gt.
        plan: what to count (`Plan`).
        tally: the counts (`Tally`): ``multi``, ``single`` incremented, ``per_image``
            [N, T] (or [N, 0]) written.
    """
    n_img, h, w = maps.shape
    npad = (h + 2) * (w + 2)
    # int32 pixel indices, and the sweeps divide by the row stride with a multiply.
    if npad >= 1 << 31 or npad * (w + 2) >= 1 << 40:
        raise ValueError(f"score maps of {h}x{w} pixels are too large for the sweep")
    if n_img == 0:
        return
    flat = maps.reshape(n_img, h * w)
    frame = frame_of(h, w)
    n_slots = min(_threads.get_num_threads(), n_img)
    spaces = [None] * n_slots
    multi = np.zeros((n_slots,) + tally.multi.shape, np.int64)
    single = np.zeros((n_slots,) + tally.single.shape, np.int64)
    quantized = flat.dtype == np.uint8
    u8 = None if quantized else np.empty((n_img, h * w), np.uint8)

    def work(lo: int, hi: int, slot: int) -> None:
        if spaces[slot] is None:
            spaces[slot] = workspace(h, w)
        block = Tally(multi[slot], single[slot], tally.per_image[lo:hi])
        offsets = gt_offsets[lo : hi + 1]
        maps_u8 = flat[lo:hi]
        if not quantized:  # in this thread, in the maps' own float type
            maps_u8 = u8[lo:hi]
            quantize_batch(flat[lo:hi], scale, maps_u8)
        box_flags_maps(maps_u8, frame, gt, offsets, plan, block, spaces[slot])

    _threads.run_blocks(n_img, 1, work)
    tally.multi[...] += multi.sum(axis=0)
    tally.single[...] += single.sum(axis=0)
