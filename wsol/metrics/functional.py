"""Pure numpy core of the WSOL protocol metrics (docs/protocol.md sections 2-5).

Per-batch functions turn checked inputs into fixed-size integer counts (what the
torchmetrics states accumulate and DDP sums); summary functions turn summed counts into
the reported numbers with the reference's arithmetic. No state, no torch: everything the
metric classes and tests share lives here. The compiled kernels are in `_sweep` (contours
at every threshold) and `_pixels` (checks, quantization, histograms).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from wsol.metrics import _pixels, _sweep, _threads, checks


def cam_thresholds(cam_curve_interval: float) -> np.ndarray:
    """CAM thresholds: ``np.arange(0, 1, interval)`` in float64, e.g. [100] for 0.01."""
    interval = float(cam_curve_interval)
    if not 1e-5 <= interval < 1:
        raise ValueError(
            f"cam_curve_interval must be in [1e-5, 1) (at most 100000 thresholds), "
            f"got {cam_curve_interval!r}"
        )
    return np.arange(0, 1, interval, dtype=np.float64)


def pxap_bin_edges(cam_curve_interval: float) -> np.ndarray:
    """PxAP histogram edges [T + 3]: the thresholds, then 1.0, 2.0, 3.0."""
    return np.append(cam_thresholds(cam_curve_interval), [1.0, 2.0, 3.0])


def iou_fractions(iou_thresholds) -> np.ndarray:
    """IoU thresholds in percent -> float64 fractions delta / 100, as the reference divides."""
    values = [float(d) for d in iou_thresholds]
    if not values or any(not 0 < d <= 100 for d in values):
        raise ValueError(f"iou_thresholds must be percentages in (0, 100], got {iou_thresholds!r}")
    return np.array([d / 100 for d in values], np.float64)


def quantize(scoremaps: np.ndarray) -> np.ndarray:
    """The protocol's uint8 maps: ``(s * 255).astype(uint8)`` computed in the input dtype.

    Args:
        scoremaps: [N, H, W] float in [0, 1] (float64 stays float64: no downcast).

    Returns:
        [N, H, W] uint8.
    """
    maps = np.ascontiguousarray(scoremaps)
    if maps.dtype not in (np.float32, np.float64) or maps.size == 0:
        return (maps * 255).astype(np.uint8)
    out = np.empty(maps.shape, np.uint8)
    n = len(maps)
    _pixels.quantize_batch(maps.reshape(n, -1), maps.dtype.type(255), out.reshape(n, -1))
    return out


@dataclass(frozen=True)
class BoxPlan:
    """What one contour sweep per map counts: the one IoU/contour plan of every box metric.

    Each box metric states what it needs (`request`); a collection merges its members'
    plans (`merge`) so that a single sweep per map serves all of them, and each member
    reads its rows back with `BoxCounts.correct`.

    Attributes:
        multi: IoU thresholds (percent) counted with every contour's box (MaxBoxAccV2).
        single: IoU thresholds (percent) counted with the largest contour's box (V1).
        per_image: (multi_contour, IoU percent) whose per-image correctness is also
            returned (localization accuracy), or None.
    """

    multi: tuple[float, ...] = ()
    single: tuple[float, ...] = ()
    per_image: tuple[bool, float] | None = None

    @classmethod
    def request(cls, multi_contour: bool, iou_thresholds, per_image: bool = False) -> BoxPlan:
        """The plan of one metric: its IoU thresholds in its contour mode (per image: the
        first threshold's rows)."""
        ious = tuple(float(d) for d in iou_thresholds)
        iou_fractions(ious)  # validates
        rows = (bool(multi_contour), ious[0]) if per_image else None
        return cls(ious if multi_contour else (), () if multi_contour else ious, rows)

    @classmethod
    def merge(cls, *plans: BoxPlan) -> BoxPlan:
        """One plan counting everything the given plans count (order kept, no repeats)."""
        multi: list[float] = []
        single: list[float] = []
        rows = None
        for plan in plans:
            multi += [d for d in plan.multi if d not in multi]
            single += [d for d in plan.single if d not in single]
            if plan.per_image is not None:
                if rows is not None and rows != plan.per_image:
                    raise ValueError(f"two per-image requests: {rows} and {plan.per_image}")
                rows = plan.per_image
        if rows is not None:
            mode = multi if rows[0] else single
            if rows[1] not in mode:
                mode.append(rows[1])
        return cls(tuple(multi), tuple(single), rows)

    def ious(self, multi_contour: bool) -> tuple[float, ...]:
        """The IoU thresholds (percent) counted in one contour mode."""
        return self.multi if multi_contour else self.single

    def fractions(self, multi_contour: bool) -> np.ndarray:
        """[D] float64 IoU fractions of one contour mode (empty if it counts none)."""
        ious = self.ious(multi_contour)
        return iou_fractions(ious) if ious else np.zeros(0, np.float64)


@dataclass(frozen=True)
class BoxCounts:
    """Box correctness of one batch, as its `BoxPlan` asked.

    Attributes:
        plan: what was counted.
        multi: [len(plan.multi), T] int64 images correct per (IoU, CAM threshold), all contours.
        single: [len(plan.single), T] int64, the largest contour only.
        per_image: [N, T] bool correctness of ``plan.per_image``, or None.
        n_images: N.
    """

    plan: BoxPlan
    multi: np.ndarray
    single: np.ndarray
    per_image: np.ndarray | None
    n_images: int

    def correct(self, multi_contour: bool, iou_thresholds) -> np.ndarray:
        """[D, T] counts of the given IoU thresholds (percent) in one contour mode."""
        counted = self.plan.ious(multi_contour)
        rows = [counted.index(float(d)) for d in iou_thresholds]
        return (self.multi if multi_contour else self.single)[rows]

    def rows(self, multi_contour: bool, iou_threshold: float) -> np.ndarray:
        """[N, T] bool per-image correctness, for the plan's per-image request."""
        if self.per_image is None or self.plan.per_image != (
            bool(multi_contour),
            float(iou_threshold),
        ):
            raise ValueError(
                f"per-image rows of {(multi_contour, iou_threshold)} were not counted "
                f"(plan: {self.plan})"
            )
        return self.per_image


def box_counts(
    scoremaps: np.ndarray,
    gt_flat: np.ndarray,
    gt_offsets: np.ndarray,
    thresholds: np.ndarray,
    plan: BoxPlan,
) -> BoxCounts:
    """Count correct images at every CAM threshold, as ``plan`` asks, one sweep per map.

    Runs on up to `wsol.metrics.get_num_threads` threads (same counts for any number).

    Args:
        scoremaps: [N, H, W] float in [0, 1] (checked: `checks.check_scoremaps`).
        gt_flat: [M, 4] int64 GT boxes (x0, y0, x1, y1), inclusive, in the maps' frame.
        gt_offsets: [N + 1] int64; image n owns gt_flat[gt_offsets[n]:gt_offsets[n + 1]].
        thresholds: [T] float64 CAM thresholds.
        plan: the IoU thresholds of each contour mode, and the per-image request.
    """
    maps = np.ascontiguousarray(scoremaps)
    if maps.dtype in (np.float32, np.float64):
        scale = maps.dtype.type(255)  # quantized by the sweep, in the maps' own type
    else:
        maps, scale = quantize(maps), 1.0
    n, t = len(maps), len(thresholds)
    multi = np.zeros((len(plan.multi), t), np.int64)
    single = np.zeros((len(plan.single), t), np.int64)
    which = None  # the per-image rows: k >= 0 multi[k], k < 0 single[-1 - k]
    if plan.per_image is not None:
        mode, iou = plan.per_image
        k = plan.ious(mode).index(iou)
        which = k if mode else -1 - k
    per_image = np.zeros((n, t if which is not None else 0), np.int64)
    _sweep.box_flags_batch(
        maps,
        scale,
        np.ascontiguousarray(gt_flat, np.int64),
        np.ascontiguousarray(gt_offsets, np.int64),
        _sweep.Plan(
            np.ascontiguousarray(thresholds, np.float64),
            plan.fractions(True),
            plan.fractions(False),
            0 if which is None else which,
        ),
        _sweep.Tally(multi, single, per_image),
    )
    rows = per_image.astype(bool) if which is not None else None
    return BoxCounts(plan, multi, single, rows, n)


def boxes_at_threshold(scoremap: np.ndarray, threshold: float, multi_contour: bool) -> np.ndarray:
    """The protocol's predicted boxes of one map at one CAM threshold (for display).

    Same quantization and strict cut-off as the counts (``u8 > int(t * max(u8))``), boxes
    of OpenCV's RETR_TREE contours (all of them, or the first of largest area), one pixel
    past the contour on the right and bottom, clipped; tests check these boxes give exactly
    the per-threshold correctness that `box_counts` counts.

    Args:
        scoremap: [H, W] float in [0, 1].
        threshold: CAM threshold in [0, 1).
        multi_contour: every contour's box, or only the largest contour's.

    Returns:
        [K, 4] int64 inclusive (x0, y0, x1, y1), in OpenCV's contour order;
        [[0, 0, 0, 0]] when nothing is above the threshold.
    """
    u8 = quantize(np.asarray(scoremap)[None])[0]
    height, width = u8.shape
    mask = (u8 > int(float(threshold) * np.max(u8))).astype(np.uint8)
    contours = cv2.findContours(mask, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[-2]
    if len(contours) == 0:
        return np.zeros((1, 4), np.int64)
    if not multi_contour:
        areas = [cv2.contourArea(c) for c in contours]
        contours = [contours[int(np.argmax(areas))]]  # argmax: the first of the largest
    boxes = [cv2.boundingRect(c) for c in contours]
    return np.array(
        [[x, y, min(x + w, width - 1), min(y + h, height - 1)] for x, y, w, h in boxes], np.int64
    )


def maxboxacc_summary(counts: np.ndarray, n_images: int, thresholds: np.ndarray) -> dict:
    """MaxBoxAcc from summed counts, the reference's arithmetic.

    Args:
        counts: [D, T] images correct per (IoU threshold, CAM threshold).
        n_images: number of images counted.
        thresholds: [T] CAM thresholds.

    Returns:
        value (mean over IoU thresholds of the per-IoU maxima, percent), per_iou [D],
        curve [D, T] percent, thresholds [T], best_threshold_index [D] (ties: lowest).
    """
    if n_images <= 0:
        raise ValueError("MaxBoxAcc: no image was given to update()")
    curve = np.asarray(counts, np.float64) * 100.0 / float(n_images)
    per_iou = curve.max(axis=1)
    return {
        "value": float(np.average(per_iou)),
        "per_iou": per_iou,
        "curve": curve,
        "thresholds": np.asarray(thresholds, np.float64),
        "best_threshold_index": curve.argmax(axis=1),
    }


def score_histograms(
    scoremaps: np.ndarray, gt_masks: np.ndarray, cam_curve_interval: float
) -> tuple[np.ndarray, np.ndarray]:
    """Histograms of the raw scores of foreground and background pixels (ignore dropped).

    Runs on up to `wsol.metrics.get_num_threads` threads (same counts for any number).

    Args:
        scoremaps: [N, H, W] float in [0, 1].
        gt_masks: [N, H, W] uint8, 0 background, 1 foreground, 255 ignore.
        cam_curve_interval: threshold step.

    Returns:
        hist_fg, hist_bg: [T + 2] int64 over the bins of `pxap_bin_edges` (np.histogram
        semantics: [e_i, e_i+1), a score of exactly 1.0 in [1, 2)).

    Raises:
        ValueError: a score is NaN or outside [0, 1], or a mask value is not 0, 1, 255
            (the binning checks them on the way; same messages as `checks`).
    """
    interval = float(cam_curve_interval)
    edges = pxap_bin_edges(interval)
    n_bins = len(edges) - 1
    scores = np.ascontiguousarray(scoremaps)
    if scores.dtype == np.float16:
        scores = scores.astype(np.float32)  # exact; the binning compares in float64
    elif scores.dtype != np.float32:
        scores = scores.astype(np.float64, copy=False)
    masks = np.ascontiguousarray(gt_masks, np.uint8)
    if scores.shape != masks.shape:
        raise ValueError(f"gt_masks shape {masks.shape} does not match scores {scores.shape}")
    n = len(scores)
    scores = scores.reshape(n, -1)
    masks = masks.reshape(n, -1)
    counts = np.zeros((4, n_bins), np.int64)  # by mask value & 3: bg, fg, -, ignored
    step = max(1, (2**31 - 1) // max(1, scores.shape[1]))  # int32 counters in the kernel
    for lo in range(0, n, step):
        part = _histograms(scores[lo : lo + step], masks[lo : lo + step], edges, interval)
        if part is None:
            # Same errors, in the same order, as checking everything up front.
            checks.check_scoremap_values(scores)
            checks.check_mask_values(masks)
            raise AssertionError("the PxAP binning rejected a map that the checks accept")
        counts += part
    return counts[1], counts[0]


def _histograms(scores, masks, edges, interval: float) -> np.ndarray | None:
    """[4, T + 2] counts by mask value & 3 of [N, P] scores (fewer than 2**31 pixels), on
    the metric threads; None if a score or mask value is invalid."""
    n, n_bins = len(scores), len(edges) - 1
    bits = scores.view(np.uint32 if scores.dtype == np.float32 else np.uint64)
    inv, eps, last, unusual = _pixels.pxap_constants(interval, n_bins - 2, scores.dtype)
    per_block = 8  # maps claimed at a time by a thread
    slots = min(_threads.get_num_threads(), -(-n // per_block))
    sub = np.zeros((slots, 4, 4 * n_bins), np.int32)
    idx = np.empty((slots, _pixels.BLOCK), np.uint32)
    bad = np.zeros(slots, bool)

    def work(lo: int, hi: int, slot: int) -> None:
        first = _pixels.histogram_maps(
            scores[lo:hi], bits[lo:hi], masks[lo:hi], edges, 1.0 / interval, inv, eps, last,
            unusual, sub[slot], idx[slot],
        )  # fmt: skip
        bad[slot] |= first >= 0

    _threads.run_blocks(n, per_block, work)
    if bad.any():
        return None
    return sub.sum(axis=(0, 1), dtype=np.int64).reshape(4, n_bins)


def pxap_summary(hist_fg: np.ndarray, hist_bg: np.ndarray, thresholds: np.ndarray) -> dict:
    """PxAP from summed histograms, the reference's arithmetic.

    Args:
        hist_fg, hist_bg: [T + 2] counts over the `pxap_bin_edges` bins.
        thresholds: [T] CAM thresholds.

    Returns:
        value (percent); precision, recall [T] at "score >= thresholds[i]" (precision is NaN
        where no pixel scores that high); thresholds [T].
    """
    fg = np.asarray(hist_fg, np.float64)
    bg = np.asarray(hist_bg, np.float64)
    num_fg = fg.sum()
    if num_fg <= 0:
        raise ValueError("PxAP: no foreground pixel (mask value 1) in the whole evaluation set")
    tp = fg[::-1].cumsum()
    fp = bg[::-1].cumsum()
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = tp / (tp + fp)
    recall = tp / num_fg
    keep = (tp + fp) != 0
    value = (precision[1:] * np.diff(recall))[keep[1:]].sum() * 100
    # Reversed cumulative index k counts scores in the top k + 1 bins: score >= t_i when
    # k = T + 1 - i.
    t = len(thresholds)
    return {
        "value": float(value),
        "precision": precision[t + 1 : 1 : -1].copy(),
        "recall": recall[t + 1 : 1 : -1].copy(),
        "thresholds": np.asarray(thresholds, np.float64),
    }


def class_hits(labels: np.ndarray, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Top-1 and top-5 classification hits.

    The rank of the label counts the classes scoring higher, equal scores at lower class
    indices first (argmax's convention); top-5 is top-K when K < 5.

    Args:
        labels: [N] int class indices.
        logits: [N, K] finite scores.

    Returns:
        top1, top5: [N] bool.
    """
    own = logits[np.arange(len(labels)), labels][:, None]
    index = np.arange(logits.shape[1])[None, :]
    rank = (logits > own).sum(axis=1) + ((logits == own) & (index < labels[:, None])).sum(axis=1)
    return rank == 0, rank < min(5, logits.shape[1])


def snap_threshold(threshold: float, thresholds: np.ndarray) -> int:
    """Index of the grid threshold nearest to ``threshold`` (ties: the lower one)."""
    t = float(threshold)
    if not 0 <= t <= 1:
        raise ValueError(f"a CAM threshold must be in [0, 1], got {threshold!r}")
    return int(np.argmin(np.abs(np.asarray(thresholds) - t)))


def localization_summary(
    gt_known: np.ndarray,
    top1_loc: np.ndarray,
    top5_loc: np.ndarray,
    top1_cls: int,
    top5_cls: int,
    n_images: int,
    thresholds: np.ndarray,
    fixed_index: int | None = None,
) -> dict:
    """GT-known / top-1 / top-5 localization at one CAM threshold, plus classification.

    Args:
        gt_known, top1_loc, top5_loc: [T] counts of images box-correct (and class-correct).
        top1_cls, top5_cls: counts of classification hits.
        n_images: number of images.
        thresholds: [T] CAM thresholds.
        fixed_index: report at this threshold index; None: the index maximizing GT-known
            (ties: lowest).

    Returns:
        gt_known_loc, top1_loc, top5_loc, top1_acc, top5_acc (percent), threshold (value
        used), threshold_index, gt_known_curve [T] percent.
    """
    if n_images <= 0:
        raise ValueError("LocalizationAccuracy: no image was given to update()")
    scale = 100.0 / float(n_images)
    curve = np.asarray(gt_known, np.float64) * scale
    index = int(curve.argmax()) if fixed_index is None else int(fixed_index)
    return {
        "gt_known_loc": float(curve[index]),
        "top1_loc": float(top1_loc[index] * scale),
        "top5_loc": float(top5_loc[index] * scale),
        "top1_acc": top1_cls * 100.0 / n_images,
        "top5_acc": top5_cls * 100.0 / n_images,
        "threshold": float(thresholds[index]),
        "threshold_index": index,
        "gt_known_curve": curve,
    }
