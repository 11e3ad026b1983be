"""Hand-computed cases: each asserts the box or count derived by hand in its docstring.

A ground-truth box equal to the expected predicted box gives IoU 1, so "correct at
IoU 70" pins the predicted box exactly. The OpenCV reference is asserted to agree too.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wsol.metrics import MaxBoxAcc, PxAP
from wsol.metrics import functional as F
from wsol.metrics import reference as ref

T100 = F.cam_thresholds(0.01)


def flags(s: np.ndarray, gt, multi: bool, ious=(30, 50, 70), interval: float = 0.01):
    """[D, T] correctness of one map, checked against the OpenCV reference as well."""
    boxes = np.asarray(gt, np.int64).reshape(-1, 4)
    plan = F.BoxPlan.request(multi, ious)
    c = F.box_counts(s[None], boxes, np.array([0, len(boxes)]), F.cam_thresholds(interval), plan)
    got = (c.multi if multi else c.single).astype(bool)
    expected = ref.box_correct(s, boxes, ref.thresholds(interval), ious, multi)
    assert np.array_equal(got, expected), "disagrees with the OpenCV reference"
    return got


def level(k: int) -> float:
    """A score whose u8 quantization is exactly k."""
    return (k + 0.5) / 255


@pytest.mark.parametrize("multi", [True, False])
def test_single_hot_pixel_box(multi):
    """Hot pixel at (x=120, y=60): box [120, 60, 120 + 1, 60 + 1] = [120, 60, 121, 61]."""
    s = np.zeros((224, 224))
    s[60, 120] = 1.0
    assert flags(s, [120, 60, 121, 61], multi).all()
    # [120, 60, 120, 60] covers 1 of the box's 4 pixels: IoU 1/4 < 0.3 everywhere.
    assert not flags(s, [120, 60, 120, 60], multi).any()


def test_ring_hole_box_counts_in_v2_not_v1():
    """Square ring, rows/cols 5..14, hole 8..11.

    Outer contour: [5, 5, 14 + 1, 14 + 1] = [5, 5, 15, 15] (121 pixels). Hole contour runs
    through the ring pixels around the hole, 7..12, so its box is [7, 7, 13, 13] (49).
    GT = the hole box: V2 has IoU 1; V1 keeps the outer contour, IoU 49/121 = 0.405:
    correct at IoU 30, not at 50.
    """
    s = np.zeros((20, 20))
    s[5:15, 5:15] = 1.0
    s[8:12, 8:12] = 0.0
    assert flags(s, [7, 7, 13, 13], multi=True).all()
    v1 = flags(s, [7, 7, 13, 13], multi=False)
    assert v1[0].all() and not v1[1].any() and not v1[2].any()
    assert flags(s, [5, 5, 15, 15], multi=False).all()


def test_thin_line_has_zero_area_so_v1_picks_the_blob():
    """Line row 2, x 0..9 (polygon area 0) vs 2x2 blob at 15..16 (area (2-1)^2 = 1).

    V1 keeps the blob: [15, 15, 17, 17]; the line's box [0, 2, 10, 3] is never chosen.
    """
    s = np.zeros((20, 20))
    s[2, 0:10] = 1.0
    s[15:17, 15:17] = 1.0
    assert flags(s, [15, 15, 17, 17], multi=False).all()
    assert not flags(s, [0, 2, 10, 3], multi=False).any()
    # Both are kept in V2.
    assert flags(s, [0, 2, 10, 3], multi=True).all()


def test_equal_areas_tie_goes_to_the_first_contour_in_opencv_order():
    """Two 3x3 squares (area 4 each): OpenCV lists top-level contours bottom-up, right to
    left (reverse raster order of their first pixel), and max() keeps the first: the right
    square [10, 2, 13, 5] beside, the lower square [2, 10, 5, 13] below."""
    s = np.zeros((16, 16))
    s[2:5, 2:5] = 1.0
    s[2:5, 10:13] = 1.0
    assert flags(s, [10, 2, 13, 5], multi=False).all()
    assert not flags(s, [2, 2, 5, 5], multi=False).any()
    s = np.zeros((16, 16))
    s[2:5, 2:5] = 1.0
    s[10:13, 2:5] = 1.0
    assert flags(s, [2, 10, 5, 13], multi=False).all()
    assert not flags(s, [2, 2, 5, 5], multi=False).any()


def test_plateau_exactly_at_a_threshold_is_background():
    """u8 200 block A (1..3) and u8 100 block B (6..8); max 200.

    At t = 0.50 the cut-off is int(0.5 * 200) = 100 and ``u8 > 100`` is strict: B is
    out. At t = 0.49 the cut-off is 98: B is in, box [6, 6, 9, 9]. So a GT on B is
    correct exactly at the first 50 thresholds.
    """
    s = np.zeros((10, 10))
    s[1:4, 1:4] = level(200)
    s[6:9, 6:9] = level(100)
    got = flags(s, [6, 6, 9, 9], multi=True)
    assert np.array_equal(got[2], np.arange(100) < 50)


def test_threshold_times_max_truncates_float_products():
    """thresholds[29] = 0.29 and 0.29 * 100 = 28.999999999999996 in float64, so the cut-off
    is 28, not 29: a u8 29 pixel is still foreground at t = 0.29 (max 100)."""
    assert int(T100[29] * 100) == 28
    s = np.zeros((12, 12))
    s[1:4, 1:4] = level(100)
    s[8, 8] = level(29)
    got = flags(s, [8, 8, 9, 9], multi=True)[2]
    assert got[29] and not got[30]  # cut-off 30 at t = 0.30 removes it


def test_non_square_frame_clips_the_box():
    """7 x 13 frame, blob rows 4..6, cols 9..12 touching the right/bottom border:
    [9, 4, min(13, 12), min(7, 6)] = [9, 4, 12, 6]; an inner blob rows 1..2, cols 2..4:
    [2, 1, 5, 3]."""
    s = np.zeros((7, 13))
    s[4:7, 9:13] = 1.0
    s[1:3, 2:5] = 0.8
    assert flags(s, [9, 4, 12, 6], multi=True).all()
    assert flags(s, [2, 1, 5, 3], multi=True)[2, :80].all()  # until t * 255 >= 204


def test_several_gt_boxes_take_the_best_match():
    """Blob box [3, 3, 6, 6]; GT = a far box and the blob box: correct (max over GT)."""
    s = np.zeros((12, 12))
    s[3:6, 3:6] = 1.0
    assert flags(s, [[8, 8, 11, 11], [3, 3, 6, 6]], multi=True).all()
    assert flags(s, [[3, 3, 6, 6], [8, 8, 11, 11]], multi=False).all()


@pytest.mark.parametrize("multi", [True, False])
def test_all_zero_and_constant_maps(multi):
    """All-zero map (max 0, no contour): box [0, 0, 0, 0] at every threshold.
    Constant map (u8 127 everywhere, 127 > every cut-off): one contour, the frame,
    box [0, 0, min(0 + 9, 8), min(0 + 6, 5)] = [0, 0, 8, 5]."""
    zero = np.zeros((6, 9))
    assert flags(zero, [0, 0, 0, 0], multi).all()
    assert not flags(zero, [0, 0, 1, 1], multi).any()  # IoU 1/4
    const = np.full((6, 9), 0.5)
    assert flags(const, [0, 0, 8, 5], multi).all()
    dim = np.full((6, 9), 0.5 / 255)  # quantizes to 0 everywhere: like the zero map
    assert flags(dim, [0, 0, 0, 0], multi).all()
    metric = MaxBoxAcc((30, 50, 70), 0.01, multi_contour=multi)
    metric.update(torch.from_numpy(np.stack([zero, const])), [[[0, 0, 0, 0]], [[0, 0, 8, 5]]])
    assert (metric.correct == 2).all() and int(metric.n_images) == 2
    assert float(metric.compute()["value"]) == 100.0


def test_best_threshold_ties_resolve_to_the_lowest_index():
    """A GT on the block is correct at every threshold: best index 0 for each IoU."""
    s = np.zeros((8, 8))
    s[2:5, 2:5] = 1.0
    metric = MaxBoxAcc((30, 50, 70), 0.01)
    metric.update(torch.from_numpy(s[None]), [[[2, 2, 5, 5]]])
    result = metric.compute()
    assert result["best_threshold_index"].tolist() == [0, 0, 0]
    assert result["curve"].shape == (3, 100) and float(result["value"]) == 100.0


def test_pxap_scores_on_bin_edges():
    """Edges are arange(0, 1, 0.01) then 1, 2, 3; arange[35] = 0.35000000000000003.

    Foreground: 1.0 (bin [1, 2)) and 0.35000000000000003 (bin 35); background:
    0.35000000000000003 (bin 35) and 0.0 (bin 0); an ignored pixel (255) scores 0.9.
    From the top: [1, 2) gives P = 1, R = 0.5 (+0.5); bin 35 gives tp 2, fp 1:
    P = 2/3, R = 1 (+1/3): PxAP = 100 * (1/2 + 1/3) = 83.33...
    With 0.35 (just below the edge) for the background pixel, it falls in bin 34: at bin
    35 P = 1, R = 1, PxAP = 100.
    """
    edge = float(T100[35])
    assert edge == 0.35000000000000003 and 0.35 < edge
    scores = np.array([[[1.0, edge], [edge, 0.0], [0.9, 0.9]]])
    masks = np.array([[[1, 1], [0, 0], [255, 255]]], np.uint8)
    fg, bg = F.score_histograms(scores, masks, 0.01)
    assert fg[100] == 1 and fg[35] == 1 and fg.sum() == 2
    assert bg[35] == 1 and bg[0] == 1 and bg.sum() == 2
    metric = PxAP(0.01)
    metric.update(torch.from_numpy(scores), torch.from_numpy(masks))
    assert float(metric.compute()["value"]) == pytest.approx(100 * (1 / 2 + 1 / 3), rel=1e-12)
    assert float(metric.compute()["value"]) == ref.pxap(scores, masks, 0.01)["value"]
    scores[0, 1, 0] = 0.35
    fg, bg = F.score_histograms(scores, masks, 0.01)
    assert bg[34] == 1 and bg[35] == 0
    metric = PxAP(0.01)
    metric.update(torch.from_numpy(scores), torch.from_numpy(masks))
    result = metric.compute()
    assert float(result["value"]) == pytest.approx(100.0, rel=1e-12)
    # Curves at "score >= t": everything at t = 0, only the 1.0 pixel above 0.99.
    assert float(result["recall"][0]) == 1.0 and float(result["precision"][0]) == 0.5
    assert float(result["recall"][99]) == 0.5 and float(result["precision"][99]) == 1.0


def test_boxes_at_threshold_are_the_counted_boxes():
    """The display boxes give exactly the correctness the sweep counts, at every threshold."""
    from tests.helpers.adversarial_maps import adversarial_cases

    thr = F.cam_thresholds(0.05)
    for s, gt in adversarial_cases(31, 60, max_side=20):
        for multi in (True, False):
            counted = flags(s, gt, multi, interval=0.05)
            for i, t in enumerate(thr):
                boxes = F.boxes_at_threshold(s, float(t), multi)
                assert multi or len(boxes) == 1
                best = ref.inclusive_iou(boxes, np.asarray(gt).reshape(-1, 4)).max()
                assert np.array_equal(counted[:, i], best >= F.iou_fractions((30, 50, 70)))
    s = np.zeros((224, 224))
    s[60, 120] = 1.0
    assert F.boxes_at_threshold(s, 0.5, True).tolist() == [[120, 60, 121, 61]]
    assert F.boxes_at_threshold(np.zeros((5, 5)), 0.0, False).tolist() == [[0, 0, 0, 0]]
