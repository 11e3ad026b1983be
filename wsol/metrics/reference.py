"""The slow, exact reference evaluator: the oracle of the tests and of the benchmark.

An independent, deliberately plain implementation of the protocol (docs/protocol.md),
written from its text, one threshold at a time with OpenCV, exactly the way the reference
evaluator works: quantize, threshold strictly, `findContours(RETR_TREE)`, keep the largest
contour or all of them, box from `boundingRect`, inclusive IoU; PxAP from ``np.histogram``
per map. It shares no code with the rest of `wsol.metrics` (so a bug there cannot hide in
both) and is slow on purpose: the parity tests compare every count with it, and
``scripts/bench_metrics.py`` times the engine against it.
"""

from __future__ import annotations

import cv2
import numpy as np


def thresholds(cam_curve_interval: float) -> np.ndarray:
    """CAM thresholds: np.arange(0, 1, interval) in float64."""
    return np.arange(0, 1, cam_curve_interval)


def boxes_at_threshold(u8: np.ndarray, threshold: float, multi_contour: bool) -> np.ndarray:
    """Predicted boxes of one quantized map at one CAM threshold.

    Args:
        u8: [H, W] uint8 quantized score map.
        threshold: CAM threshold in [0, 1).
        multi_contour: keep every contour (True) or only the largest-area one (False).

    Returns:
        [B, 4] int64 boxes (x0, y0, x1, y1); [[0, 0, 0, 0]] when there is no contour.
    """
    return boxes_at_cutoff(u8, int(threshold * np.max(u8)), multi_contour)


def boxes_at_cutoff(u8: np.ndarray, cutoff: int, multi_contour: bool) -> np.ndarray:
    """Boxes of the contours of ``u8 > cutoff`` (see `boxes_at_threshold`)."""
    height, width = u8.shape
    _, binary = cv2.threshold(u8, cutoff, 255, cv2.THRESH_BINARY)
    contours = cv2.findContours(binary, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[0]
    if len(contours) == 0:
        return np.zeros((1, 4), np.int64)
    if not multi_contour:
        contours = [max(contours, key=cv2.contourArea)]
    boxes = []
    for contour in contours:
        x, y, w, h = cv2.boundingRect(contour)
        boxes.append([x, y, min(x + w, width - 1), min(y + h, height - 1)])
    return np.asarray(boxes, np.int64)


def inclusive_iou(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """IoU matrix [A, B] with inclusive (+1) pixel areas, float64."""
    a = boxes_a[:, None, :]
    b = boxes_b[None, :, :]
    iw = np.maximum(0, np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]) + 1)
    ih = np.maximum(0, np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]) + 1)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0] + 1) * (a[..., 3] - a[..., 1] + 1)
    area_b = (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)
    return inter / (area_a + area_b - inter)


def quantize(scoremap: np.ndarray) -> np.ndarray:
    """The protocol's uint8 map: (s * 255) in the input's own dtype, truncated."""
    return (scoremap * 255).astype(np.uint8)


def box_correct(
    scoremap: np.ndarray,
    gt_boxes: np.ndarray,
    thresholds_: np.ndarray,
    iou_thresholds: tuple[float, ...],
    multi_contour: bool,
) -> np.ndarray:
    """Correctness of one map at every (IoU threshold, CAM threshold).

    Args:
        scoremap: [H, W] float map in [0, 1].
        gt_boxes: [K, 4] integer GT boxes, same frame.
        thresholds_: [T] CAM thresholds.
        iou_thresholds: IoU thresholds in percent.
        multi_contour: V2 (True) or V1 (False) boxes.

    Returns:
        [D, T] bool.
    """
    u8 = quantize(scoremap)
    gt = np.asarray(gt_boxes, np.int64).reshape(-1, 4)
    best = np.array(
        [inclusive_iou(boxes_at_threshold(u8, t, multi_contour), gt).max() for t in thresholds_]
    )
    return np.stack([best >= delta / 100 for delta in iou_thresholds])


def box_correct_memo(
    scoremap: np.ndarray,
    gt_boxes: np.ndarray,
    thresholds_list: list[np.ndarray],
    iou_thresholds: tuple[float, ...],
) -> list[tuple[np.ndarray, np.ndarray]]:
    """`box_correct` for both contour modes and several threshold grids at once.

    The boxes only depend on the cut-off ``int(t * max(u8))``, so OpenCV runs once per
    distinct cut-off (the same threshold and `findContours` calls as `boxes_at_cutoff`,
    both modes from one `findContours`, bounding rects and areas of all contours computed
    at once by `_contour_boxes_and_areas`) instead of once per threshold: the same answers,
    fast enough for thousands of parity cases.

    Returns:
        For each grid: (multi-contour [D, T] bool, single-contour [D, T] bool).
    """
    u8 = quantize(scoremap)
    gt = [tuple(int(v) for v in box) for box in np.asarray(gt_boxes).reshape(-1, 4)]
    height, width = u8.shape
    best: dict[int, tuple[float, float]] = {}
    top = np.max(u8)
    out = []
    for thr in thresholds_list:
        multi, single = [], []
        for t in thr:
            cutoff = int(t * top)
            if cutoff not in best:
                _, binary = cv2.threshold(u8, cutoff, 255, cv2.THRESH_BINARY)
                contours = cv2.findContours(binary, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[0]
                if len(contours) == 0:
                    all_boxes = largest = np.zeros((1, 4), np.int64)
                else:
                    all_boxes, areas2 = _contour_boxes_and_areas(contours, width, height)
                    largest = all_boxes[[int(np.argmax(areas2))]]  # first of the largest
                best[cutoff] = (_max_iou(all_boxes, gt), _max_iou(largest, gt))
            multi.append(best[cutoff][0])
            single.append(best[cutoff][1])
        out.append(
            tuple(
                np.stack([np.asarray(v) >= delta / 100 for delta in iou_thresholds])
                for v in (multi, single)
            )
        )
    return out


def _contour_boxes_and_areas(contours, width: int, height: int):
    """What `cv2.boundingRect` (clipped like `boxes_at_cutoff`) and twice `cv2.contourArea`
    give for each contour, computed over all contours at once: a bounding rect spans its
    points' min to max + 1, and the area is the shoelace sum of the closed polygon.
    (`tests/metrics/test_parity.py` checks both against OpenCV's own calls.)

    Returns:
        boxes [C, 4] int64 (x0, y0, x1, y1), twice the areas [C] int64.
    """
    lengths = np.fromiter((len(c) for c in contours), np.int64, len(contours))
    starts = np.zeros(len(contours), np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    points = np.concatenate(contours).reshape(-1, 2).astype(np.int64)
    x, y = points[:, 0], points[:, 1]
    boxes = np.stack(
        [
            np.minimum.reduceat(x, starts),
            np.minimum.reduceat(y, starts),
            np.minimum(np.maximum.reduceat(x, starts) + 1, width - 1),
            np.minimum(np.maximum.reduceat(y, starts) + 1, height - 1),
        ],
        axis=1,
    )
    following = np.arange(1, len(points) + 1)
    following[starts + lengths - 1] = starts  # each polygon closes on its first point
    cross = x * y[following] - x[following] * y
    return boxes, np.abs(np.add.reduceat(cross, starts))


def _max_iou(boxes, gt: list[tuple[int, ...]]) -> float:
    """Max inclusive IoU over box pairs (plain Python for a handful of boxes)."""
    if len(boxes) > 4:
        return float(inclusive_iou(np.asarray(boxes), np.asarray(gt)).max())
    best = 0.0
    for ax0, ay0, ax1, ay1 in np.asarray(boxes).tolist():
        area_a = (ax1 - ax0 + 1) * (ay1 - ay0 + 1)
        for bx0, by0, bx1, by1 in gt:
            iw = max(0, min(ax1, bx1) - max(ax0, bx0) + 1)
            ih = max(0, min(ay1, by1) - max(ay0, by0) + 1)
            inter = iw * ih
            best = max(best, inter / (area_a + (bx1 - bx0 + 1) * (by1 - by0 + 1) - inter))
    return best


def maxboxacc_counts(
    scoremaps,
    gt_boxes,
    cam_curve_interval: float,
    iou_thresholds,
    multi_contour: bool,
    memo: bool = False,
) -> np.ndarray:
    """[D, T] int64 numbers of correct images over a set of maps (memo: `maxboxacc_grids`)."""
    if memo:
        grids = maxboxacc_grids(scoremaps, gt_boxes, [cam_curve_interval], iou_thresholds)
        return grids[cam_curve_interval, multi_contour]["counts"]
    thr = thresholds(cam_curve_interval)
    counts = np.zeros((len(iou_thresholds), len(thr)), np.int64)
    for scoremap, boxes in zip(scoremaps, gt_boxes, strict=True):
        counts += box_correct(np.asarray(scoremap), boxes, thr, iou_thresholds, multi_contour)
    return counts


def maxboxacc(scoremaps, gt_boxes, *args, **kwargs) -> dict:
    """MaxBoxAcc (V1 or V2) the way the reference reports it (arguments: `maxboxacc_counts`)."""
    counts = maxboxacc_counts(scoremaps, gt_boxes, *args, **kwargs)
    return maxboxacc_summary(counts, len(scoremaps))


def maxboxacc_grids(scoremaps, gt_boxes, intervals, iou_thresholds) -> dict:
    """`maxboxacc` of both contour modes at several threshold grids, OpenCV run once per
    map and distinct cut-off for all of them (`box_correct_memo`).

    Returns:
        (interval, multi_contour) -> the `maxboxacc` dict.
    """
    grids = [thresholds(interval) for interval in intervals]
    counts = {
        (interval, multi): np.zeros((len(iou_thresholds), len(grid)), np.int64)
        for interval, grid in zip(intervals, grids, strict=True)
        for multi in (True, False)
    }
    for scoremap, boxes in zip(scoremaps, gt_boxes, strict=True):
        per_grid = box_correct_memo(np.asarray(scoremap), boxes, grids, tuple(iou_thresholds))
        for interval, (multi, single) in zip(intervals, per_grid, strict=True):
            counts[interval, True] += multi
            counts[interval, False] += single
    return {key: maxboxacc_summary(c, len(scoremaps)) for key, c in counts.items()}


def maxboxacc_summary(counts: np.ndarray, n_images: int) -> dict:
    """The reference's MaxBoxAcc report from [D, T] counts of correct images."""
    curve = counts * 100.0 / float(n_images)
    per_iou = curve.max(axis=1)
    return {
        "counts": counts,
        "curve": curve,
        "per_iou": per_iou,
        "value": float(np.average(per_iou)),
        "best_threshold_index": curve.argmax(axis=1),
    }


def pxap_histograms(scoremaps, gt_masks, cam_curve_interval: float):
    """Foreground and background score histograms over [thresholds..., 1, 2, 3]."""
    edges = np.append(thresholds(cam_curve_interval), [1.0, 2.0, 3.0])
    hist_fg = np.zeros(len(edges) - 1, np.float64)
    hist_bg = np.zeros(len(edges) - 1, np.float64)
    for scoremap, mask in zip(scoremaps, gt_masks, strict=True):
        scoremap = np.asarray(scoremap)
        mask = np.asarray(mask)
        hist_fg += np.histogram(scoremap[mask == 1], bins=edges)[0]
        hist_bg += np.histogram(scoremap[mask == 0], bins=edges)[0]
    return hist_fg, hist_bg


def pxap(scoremaps, gt_masks, cam_curve_interval: float) -> dict:
    """PxAP (percent) from the precision-recall curve over the score histograms."""
    hist_fg, hist_bg = pxap_histograms(scoremaps, gt_masks, cam_curve_interval)
    tp = hist_fg[::-1].cumsum()
    fp = hist_bg[::-1].cumsum()
    num_fg = hist_fg.sum()
    if num_fg <= 0:
        raise RuntimeError("no foreground pixel")
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = tp / (tp + fp)
        recall = tp / num_fg
    keep = (tp + fp) != 0
    value = (precision[1:] * np.diff(recall))[keep[1:]].sum() * 100
    return {
        "hist_fg": hist_fg,
        "hist_bg": hist_bg,
        "precision": precision,
        "recall": recall,
        "value": float(value),
    }
