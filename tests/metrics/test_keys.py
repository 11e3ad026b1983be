"""One naming of metric results: `named_results` of the single metrics, `result_keys`."""

from __future__ import annotations

import torch

from wsol.metrics import MaxBoxAcc, PxAP, WSOLMetrics, result_keys
from wsol.metrics.keys import named_results


def test_result_keys_prefix_the_stage_and_drop_curves_and_missing_values():
    results = {"maxboxaccv2": 50, "gt_known_loc": None, "curves": {"thresholds": torch.zeros(3)}}
    assert result_keys("val", results) == {"val/maxboxaccv2": 50.0}


def test_single_metrics_are_named_as_the_collection_names_them():
    s = torch.zeros(2, 12, 12, dtype=torch.float64)
    s[0, 1:4, 1:4] = 1
    s[1, 5:9, 2:6] = 0.7
    boxes = [torch.tensor([[1, 1, 4, 4]]), torch.tensor([[2, 5, 8, 11]])]  # IoU 1 and 25 / 49
    masks = (s > 0).to(torch.uint8)
    ious = (30, 62.5)
    v2, v1, pxap = MaxBoxAcc(ious), MaxBoxAcc((50,), multi_contour=False), PxAP()
    whole = WSOLMetrics(iou_thresholds=ious, with_masks=True)
    v2.update(s, boxes), v1.update(s, boxes), pxap.update(s, masks)
    whole.update(s, boxes, torch.tensor([0, 1]), torch.eye(2), gt_masks=masks)
    named = named_results(ious, v2=v2.compute(), v1=v1.compute(), pxap=pxap.compute())
    assert set(named) == {
        "maxboxaccv2", "maxboxaccv2_iou30", "maxboxaccv2_iou62.5", "maxboxacc",
        "best_threshold_v1", "pxap",
    }  # fmt: skip
    computed = whole.compute()
    assert {k: computed[k] for k in named} == named
    assert named["maxboxaccv2_iou30"] == 100.0 and named["maxboxaccv2_iou62.5"] == 50.0  # in order
