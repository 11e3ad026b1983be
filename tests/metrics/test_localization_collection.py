"""LocalizationAccuracy by hand, and WSOLMetrics equal to the separate metrics."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch

from tests.helpers.adversarial_maps import gt_boxes, scoremap
from wsol.metrics import LocalizationAccuracy, MaxBoxAcc, PxAP, WSOLMetrics
from wsol.metrics import functional as F


def blocks() -> tuple[torch.Tensor, list]:
    """Three 12x12 maps, each one block whose GT is the block's box: box-correct at every
    threshold (see test_hand_cases)."""
    s = torch.zeros(3, 12, 12, dtype=torch.float64)
    s[0, 1:4, 1:4] = 1
    s[1, 5:9, 2:6] = 1
    s[2, 6:11, 6:11] = 1
    return s, [[[1, 1, 4, 4]], [[2, 5, 6, 9]], [[6, 6, 11, 11]]]


def test_top1_top5_by_hand():
    """K = 10. Image 0: label is the argmax. Image 1: label second (top-5 only).
    Image 2: label sixth (neither). All boxes correct: GT-known 100, top-1 loc 1/3,
    top-5 loc 2/3, classification the same."""
    s, boxes = blocks()
    logits = torch.arange(10.0).repeat(3, 1)  # class 9 scores highest
    labels = torch.tensor([9, 8, 4])
    metric = LocalizationAccuracy(cam_curve_interval=0.01)
    metric.update(s, boxes, labels, logits)
    r = metric.compute()
    assert r["gt_known_loc"] == 100.0
    assert r["top1_loc"] == pytest.approx(100 / 3) and r["top1_acc"] == pytest.approx(100 / 3)
    assert r["top5_loc"] == pytest.approx(200 / 3) and r["top5_acc"] == pytest.approx(200 / 3)
    assert r["threshold_index"] == 0 and r["threshold"] == 0.0  # every index ties: lowest
    assert r["gt_known_curve"].shape == (100,)


def test_fewer_than_five_classes_and_ties():
    """K = 3: top-5 is top-3, always a hit. Equal logits rank lower class indices first
    (argmax's convention): with all-equal logits only label 0 is a top-1 hit."""
    s, boxes = blocks()
    metric = LocalizationAccuracy()
    metric.update(s, boxes, torch.tensor([0, 1, 2]), torch.zeros(3, 3))
    r = metric.compute()
    assert r["top5_acc"] == 100.0 and r["top5_loc"] == 100.0
    assert r["top1_acc"] == pytest.approx(100 / 3)


def test_fixed_threshold_snaps_to_the_grid_and_is_reported():
    """Image 0: its block scores 0.5 (u8 127) and one far pixel 1.0 (u8 255). From t = 0.5
    (cut-off int(0.5 * 255) = 127) only the pixel is left: box [11, 11, 11, 11], wrong.
    Below, the block is the largest contour: right. Argmax of GT-known: index 0 (100 %,
    ties go low); fixed at 0.6024, snapped to 0.60: GT-known 2/3."""
    s, boxes = blocks()
    s[0] *= 0.5
    s[0, 11, 11] = 1.0
    metric = LocalizationAccuracy()
    metric.update(s, boxes, torch.tensor([0, 0, 0]), torch.zeros(3, 2))
    r = metric.compute()
    assert r["gt_known_loc"] == 100.0 and r["threshold_index"] == 0
    assert r["gt_known_curve"][49] == 100.0 and r["gt_known_curve"][50] == pytest.approx(200 / 3)
    metric.set_threshold(0.6024)
    r = metric.compute()
    assert r["threshold_index"] == 60 and r["threshold"] == pytest.approx(0.6)
    assert r["gt_known_loc"] == pytest.approx(200 / 3)
    metric.set_threshold(None)
    assert metric.compute()["threshold_index"] == 0


def batch(seed: int, n: int = 12, h: int = 20, w: int = 24):
    rng = np.random.default_rng(seed)
    kinds = ("blobs", "rings", "noise", "levels", "lines")
    maps = np.stack([scoremap(rng, kinds[i % 5], h, w) for i in range(n)])
    boxes = [gt_boxes(rng, m) for m in maps]
    labels = rng.integers(0, 7, n)
    logits = rng.standard_normal((n, 7))
    masks = rng.choice(np.array([0, 1, 255], np.uint8), (n, h, w))
    return (
        torch.from_numpy(maps),
        boxes,
        torch.from_numpy(labels),
        torch.from_numpy(logits),
        torch.from_numpy(masks),
    )


@pytest.mark.parametrize("loc_multi_contour", [False, True])
def test_wsol_metrics_equals_the_separate_metrics(loc_multi_contour):
    interval, ious = 0.01, (30, 70)  # 50 absent: localization still reads IoU 50
    whole = WSOLMetrics(interval, ious, with_masks=True, loc_multi_contour=loc_multi_contour)
    v2 = MaxBoxAcc(ious, interval, multi_contour=True)
    v1 = MaxBoxAcc((50,), interval, multi_contour=False)
    loc = LocalizationAccuracy(interval, 50, multi_contour=loc_multi_contour)
    pix = PxAP(interval)
    for seed in range(3):
        maps, boxes, labels, logits, masks = batch(seed)
        whole.update(maps, boxes, labels, logits, gt_masks=masks)
        v2.update(maps, boxes)
        v1.update(maps, boxes)
        loc.update(maps, boxes, labels, logits)
        pix.update(maps, masks)
    out = whole.compute()
    r2, r1, rl, rp = v2.compute(), v1.compute(), loc.compute(), pix.compute()
    assert out["maxboxaccv2"] == float(r2["value"])
    assert out["maxboxaccv2_iou30"] == float(r2["per_iou"][0])
    assert out["maxboxaccv2_iou70"] == float(r2["per_iou"][1])
    assert out["maxboxacc"] == float(r1["value"])
    assert out["best_threshold_v1"] == float(r1["thresholds"][r1["best_threshold_index"][0]])
    for key in ("gt_known_loc", "top1_loc", "top5_loc", "top1_acc", "top5_acc"):
        assert out[key] == rl[key], key
    assert out["loc_threshold"] == rl["threshold"]
    assert out["pxap"] == float(rp["value"])
    curves = out["curves"]
    assert torch.equal(curves["box_acc_v2"], r2["curve"]) and curves["box_acc_v2"].shape == (2, 100)
    assert torch.equal(curves["box_acc_v1"], r1["curve"]) and curves["box_acc_v1"].shape == (1, 100)
    assert torch.equal(curves["precision"], rp["precision"])
    assert torch.equal(curves["recall"], rp["recall"])
    assert curves["thresholds"].shape == (100,)
    for key, value in out.items():  # what the LightningModule logs
        if key != "curves":
            assert isinstance(value, float), key
    whole.loc.set_threshold(0.3)
    loc.set_threshold(0.3)
    assert whole.compute()["top1_loc"] == loc.compute()["top1_loc"]
    assert whole.compute()["loc_threshold"] == pytest.approx(0.3)
    whole.reset()
    assert int(whole.loc.n_images) == 0 and int(whole.box_v2.correct.sum()) == 0
    assert whole.loc.fixed_index == 30  # a setting, not a state: reset keeps it


def test_mask_split_without_boxes():
    maps, _, labels, logits, masks = batch(4)
    metric = WSOLMetrics(with_masks=True)
    metric.update(maps, None, labels, logits, gt_masks=masks)
    metric.update(maps, [torch.zeros(0, 4)] * len(maps), labels, logits, gt_masks=masks)
    out = metric.compute()
    assert out["maxboxaccv2"] is None and out["loc_threshold"] is None
    assert isinstance(out["pxap"], float) and isinstance(out["top1_acc"], float)
    assert "box_acc_v2" not in out["curves"]


def test_result_shapes_survive_squeezing_and_copies():
    """torchmetrics squeezes one-element tensors; declared shapes are restored, also on
    copies (deepcopy/pickle re-wrap compute)."""
    maps, boxes, *_ = batch(5)
    metric = MaxBoxAcc((50,), 0.5, multi_contour=False)  # T = 2, D = 1
    metric.update(maps, boxes)
    for m in (metric, copy.deepcopy(metric), pickle.loads(pickle.dumps(metric))):
        r = m.compute()
        assert r["per_iou"].shape == (1,) and r["best_threshold_index"].shape == (1,)
        assert r["curve"].shape == (1, 2) and r["thresholds"].shape == (2,)
        assert r["value"].shape == ()


def test_metrics_are_lightning_friendly_submodules():
    module = torch.nn.Module()
    module.val_metrics = WSOLMetrics()
    module.test_metrics = WSOLMetrics()
    names = {name for name, _ in module.named_modules()}
    assert {"val_metrics", "test_metrics"} <= names
    maps, boxes, labels, logits, _ = batch(6)
    module.val_metrics.update(maps, boxes, labels, logits)
    assert int(module.test_metrics.loc.n_images) == 0  # separate state per split
    assert int(module.val_metrics.loc.n_images) == len(maps)


def test_one_box_plan_serves_every_member():
    """The collection sweeps once with the union of its members' plans: V2's IoUs and
    localization's IoU 50 in multi-contour mode, V1's IoU 50 in single mode."""
    whole = WSOLMetrics(0.01, (30, 70), loc_multi_contour=True)
    assert whole.plan == F.BoxPlan(multi=(30.0, 70.0, 50.0), single=(50.0,), per_image=(True, 50.0))
    maps, boxes, *_ = batch(7)
    flat = np.concatenate(boxes)
    offsets = np.concatenate([[0], np.cumsum([len(b) for b in boxes])])
    counts = F.box_counts(maps.numpy(), flat, offsets, F.cam_thresholds(0.01), whole.plan)
    alone = MaxBoxAcc((70, 30), 0.01, multi_contour=True)
    alone.update(maps, boxes)
    assert np.array_equal(counts.correct(True, (70, 30)), alone.correct.numpy())
    assert np.array_equal(counts.rows(True, 50).sum(0), counts.correct(True, (50,))[0])
    with pytest.raises(ValueError, match="per-image rows of \\(False, 50\\) were not counted"):
        counts.rows(False, 50)
