"""Parity of wsol.metrics with the independent OpenCV reference, count arrays compared whole.

Seeded adversarial maps (plateaus on the cut-offs, rings and holes inside holes, lines,
checkerboards, noise, tiny and non-square frames, few distinct values) and hypothesis
examples, each checked at both threshold grids (0.01 and 0.001) in both contour modes,
plus PxAP histograms, curves and values.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tests.helpers.adversarial_maps import adversarial_cases, gt_boxes, scoremap
from wsol.metrics import MaxBoxAcc, PxAP
from wsol.metrics import functional as F
from wsol.metrics import reference as ref

IOUS = (30, 50, 70)
GRIDS = (0.01, 0.001)
# Scores that sit exactly on (or next to) quantization steps and histogram edges.
SPECIAL = [0.0, 1.0, 0.5, 0.35, 0.35000000000000003, 1 / 255, 2 / 255, 254 / 255, 0.999]
SPECIAL += [float(t) for t in np.arange(0, 1, 0.01)[::7]] + [float(np.nextafter(0.35, 0))]


def ours_flags(s: np.ndarray, boxes: np.ndarray, interval: float):
    """[D, T] correctness of one map in both contour modes, from the functional core."""
    plan = F.BoxPlan(multi=IOUS, single=IOUS)
    counts = F.box_counts(
        s[None], boxes, np.array([0, len(boxes)]), F.cam_thresholds(interval), plan
    )
    return counts.multi.astype(bool), counts.single.astype(bool)


def assert_same_flags(s: np.ndarray, boxes: np.ndarray, label: str) -> None:
    expected = ref.box_correct_memo(s, boxes, [ref.thresholds(i) for i in GRIDS], IOUS)
    for interval, (ref_multi, ref_single) in zip(GRIDS, expected, strict=True):
        multi, single = ours_flags(s, boxes, interval)
        where = f"{label}, {s.shape[0]}x{s.shape[1]} map, interval {interval}"
        assert np.array_equal(multi, ref_multi), f"multi-contour counts differ ({where})"
        assert np.array_equal(single, ref_single), f"single-contour counts differ ({where})"


@pytest.mark.parametrize("seed", range(7))
def test_adversarial_maps_match_reference(seed):
    for i, (s, boxes) in enumerate(adversarial_cases(1000 + seed, 100, max_side=32)):
        assert_same_flags(s, boxes, f"seed {seed} case {i}")


def test_plain_per_threshold_reference_agrees_with_memoized_one():
    """The memoized reference used above equals the literal per-threshold loop."""
    thr = ref.thresholds(0.01)
    for s, boxes in adversarial_cases(77, 20, max_side=24):
        ((multi, single),) = ref.box_correct_memo(s, boxes, [thr], IOUS)
        assert np.array_equal(multi, ref.box_correct(s, boxes, thr, IOUS, True))
        assert np.array_equal(single, ref.box_correct(s, boxes, thr, IOUS, False))


def test_vectorized_contour_boxes_and_areas_equal_opencv_calls():
    """The memoized reference's boxes and areas of all contours at once equal
    `cv2.boundingRect` (clipped as `boxes_at_cutoff`) and `cv2.contourArea` per contour."""
    cv2 = pytest.importorskip("cv2")
    checked = 0
    for s, _ in adversarial_cases(91, 40, max_side=32):
        u8 = ref.quantize(s)
        height, width = u8.shape
        for cutoff in np.unique(u8)[:-1]:
            binary = cv2.threshold(u8, int(cutoff), 255, cv2.THRESH_BINARY)[1]
            contours = cv2.findContours(binary, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[0]
            boxes, areas2 = ref._contour_boxes_and_areas(contours, width, height)
            for contour, box, area2 in zip(contours, boxes, areas2, strict=True):
                x, y, w, h = cv2.boundingRect(contour)
                assert box.tolist() == [x, y, min(x + w, width - 1), min(y + h, height - 1)]
                assert area2 == 2 * cv2.contourArea(contour)
                checked += 1
    assert checked > 1000


@st.composite
def map_and_boxes(draw):
    h = draw(st.integers(1, 10))
    w = draw(st.integers(1, 10))
    values = st.one_of(st.sampled_from(SPECIAL), st.floats(0, 1))
    s = draw(hnp.arrays(np.float64, (h, w), elements=values))
    boxes = []
    for _ in range(draw(st.integers(1, 3))):
        x0, x1 = sorted(draw(st.integers(0, w - 1)) for _ in range(2))
        y0, y1 = sorted(draw(st.integers(0, h - 1)) for _ in range(2))
        boxes.append([x0, y0, x1, y1])
    return s, np.array(boxes, np.int64)


@settings(max_examples=250, deadline=None)
@given(map_and_boxes())
def test_hypothesis_maps_match_reference(case):
    s, boxes = case
    assert_same_flags(s, boxes, "hypothesis")


def _batch(seed: int, n: int, h: int, w: int, dtype=np.float64):
    rng = np.random.default_rng(seed)
    kinds = ("blobs", "rings", "noise", "levels", "plateau", "lines", "checker", "dim")
    maps = np.stack([scoremap(rng, kinds[i % len(kinds)], h, w) for i in range(n)]).astype(dtype)
    boxes = [gt_boxes(rng, m.astype(np.float64)) for m in maps]
    masks = rng.choice(np.array([0, 1, 255], np.uint8), size=(n, h, w), p=[0.6, 0.3, 0.1])
    masks[maps > 0.6] = 1
    return maps, boxes, masks


@pytest.mark.parametrize("interval", GRIDS)
@pytest.mark.parametrize("multi_contour", [True, False])
def test_metric_counts_match_reference_on_a_batch(interval, multi_contour):
    maps, boxes, _ = _batch(3, 48, 23, 37)
    ious = IOUS if multi_contour else (50,)
    metric = MaxBoxAcc(
        iou_thresholds=ious, cam_curve_interval=interval, multi_contour=multi_contour
    )
    for lo in range(0, 48, 16):  # several updates accumulate
        metric.update(
            torch.from_numpy(maps[lo : lo + 16]), [torch.from_numpy(b) for b in boxes[lo : lo + 16]]
        )
    result = metric.compute()
    expected = ref.maxboxacc(maps, boxes, interval, ious, multi_contour, memo=interval < 0.01)
    assert np.array_equal(metric.correct.numpy(), expected["counts"])
    assert np.array_equal(result["curve"].numpy(), expected["curve"])
    assert np.array_equal(result["per_iou"].numpy(), expected["per_iou"])
    assert float(result["value"]) == expected["value"]
    assert np.array_equal(result["best_threshold_index"].numpy(), expected["best_threshold_index"])
    assert np.array_equal(result["thresholds"].numpy(), ref.thresholds(interval))


def test_quantization_happens_in_the_input_dtype():
    """(s * 255) is computed in the input dtype, never after a downcast or an upcast.

    For float32 maps the float32 and float64 products truncate alike (every float32 near
    each k / 255 checked), float16 ones differ, so float16 shows the rule.
    """
    k = np.arange(0, 1.0001, 2.0**-12)
    s16 = k.astype(np.float16)
    in16 = (s16 * 255).astype(np.uint8)
    in64 = (s16.astype(np.float64) * 255).astype(np.uint8)
    assert (in16 != in64).any()
    assert np.array_equal(F.quantize(s16[None, None, :]), in16[None, None, :])
    s32 = (np.arange(256) / 255).astype(np.float32)
    assert np.array_equal(F.quantize(s32[None, None, :]), (s32 * 255).astype(np.uint8)[None, None])
    for dtype in (np.float16, np.float32):
        maps, boxes, _ = _batch(5, 24, 17, 19, dtype=dtype)
        for interval in GRIDS:
            metric = MaxBoxAcc(IOUS, interval, multi_contour=True)
            metric.update(torch.from_numpy(maps), boxes)
            expected = ref.maxboxacc_counts(maps, boxes, interval, IOUS, True, memo=True)
            assert np.array_equal(metric.correct.numpy(), expected)


@pytest.mark.parametrize("interval", GRIDS)
def test_pxap_matches_reference_on_a_batch(interval):
    maps, _, masks = _batch(11, 40, 21, 26)
    metric = PxAP(cam_curve_interval=interval)
    metric.update(torch.from_numpy(maps[:25]), torch.from_numpy(masks[:25]))
    metric.update(torch.from_numpy(maps[25:]), torch.from_numpy(masks[25:]))
    result = metric.compute()
    expected = ref.pxap(maps, masks, interval)
    assert np.array_equal(metric.hist_fg.numpy(), expected["hist_fg"])
    assert np.array_equal(metric.hist_bg.numpy(), expected["hist_bg"])
    assert float(result["value"]) == expected["value"]
    t = len(ref.thresholds(interval))
    # Curves aligned with the thresholds: index i is "score >= thresholds[i]".
    np.testing.assert_array_equal(result["recall"].numpy(), expected["recall"][t + 1 : 1 : -1])
    np.testing.assert_array_equal(
        result["precision"].numpy(), expected["precision"][t + 1 : 1 : -1]
    )


@settings(max_examples=150, deadline=None)
@given(
    scores=hnp.arrays(
        np.float64, st.tuples(st.integers(1, 3), st.integers(1, 9), st.integers(1, 9)),
        elements=st.one_of(st.sampled_from(SPECIAL), st.floats(0, 1)),
    ),
    data=st.data(),
    interval=st.sampled_from([0.01, 0.001, 0.05, 0.3]),
)  # fmt: skip
def test_pxap_histograms_match_np_histogram(scores, data, interval):
    masks = data.draw(hnp.arrays(np.uint8, scores.shape, elements=st.sampled_from([0, 1, 255])))
    fg, bg = F.score_histograms(scores, masks, interval)
    ref_fg, ref_bg = ref.pxap_histograms(scores, masks, interval)
    assert np.array_equal(fg, ref_fg) and np.array_equal(bg, ref_bg)
    if ref_fg.sum() > 0:
        expected = ref.pxap(scores, masks, interval)["value"]
        assert F.pxap_summary(fg, bg, F.cam_thresholds(interval))["value"] == expected


@pytest.mark.parametrize("interval", [0.01, 0.001, 0.3, 0.07, 0.013, 1e-4, 0.5])
def test_pxap_binning_at_every_edge_and_its_neighbours(interval):
    """Every edge, the float just below and just above it, 1.0 and random scores."""
    edges = F.pxap_bin_edges(interval)[:-3]
    rng = np.random.default_rng(7)
    values = np.concatenate(
        [edges, np.nextafter(edges, 0), np.nextafter(edges, 2), rng.random(5000), [1.0, 0.0]]
    )
    values = np.clip(values, 0, 1)[None, None, :]
    masks = rng.choice(np.array([0, 1, 255], np.uint8), values.shape)
    fg, bg = F.score_histograms(values, masks, interval)
    ref_fg, ref_bg = ref.pxap_histograms(values, masks, interval)
    assert np.array_equal(fg, ref_fg) and np.array_equal(bg, ref_bg)


@pytest.mark.slow
def test_a_thousand_random_maps_match_reference_through_the_public_metrics():
    # The acceptance bar: V1, V2 and PxAP of 1,000 seeded random maps (every kind of
    # `adversarial_maps`, one frame size so they batch), fed in uneven batches, equal the
    # reference's counts, curves and values at both threshold grids (the reference runs
    # OpenCV once per map and cut-off for both grids and both contour modes).
    maps, boxes, masks = _batch(2024, 1000, 28, 33)
    expected_boxes = ref.maxboxacc_grids(maps, boxes, GRIDS, IOUS)
    for interval in GRIDS:
        v2 = MaxBoxAcc(iou_thresholds=IOUS, cam_curve_interval=interval, multi_contour=True)
        v1 = MaxBoxAcc(iou_thresholds=(50,), cam_curve_interval=interval, multi_contour=False)
        pxap = PxAP(cam_curve_interval=interval)
        for lo, hi in ((0, 1), (1, 300), (300, 777), (777, 1000)):
            batch = torch.from_numpy(maps[lo:hi])
            batch_boxes = [torch.from_numpy(b) for b in boxes[lo:hi]]
            v2.update(batch, batch_boxes)
            v1.update(batch, batch_boxes)
            pxap.update(batch, torch.from_numpy(masks[lo:hi]))
        for metric, rows, multi in ((v2, [0, 1, 2], True), (v1, [1], False)):
            full = expected_boxes[interval, multi]
            expected = ref.maxboxacc_summary(full["counts"][rows], len(maps))
            result = metric.compute()
            assert np.array_equal(metric.correct.numpy(), expected["counts"]), interval
            assert float(result["value"]) == expected["value"]
            assert np.array_equal(
                result["best_threshold_index"].numpy(), expected["best_threshold_index"]
            )
        expected = ref.pxap(maps, masks, interval)
        assert np.array_equal(pxap.hist_fg.numpy(), expected["hist_fg"].astype(np.int64))
        assert np.array_equal(pxap.hist_bg.numpy(), expected["hist_bg"].astype(np.int64))
        assert float(pxap.compute()["value"]) == expected["value"]
