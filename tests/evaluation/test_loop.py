"""The one evaluation entry: method and saved-map paths, evaluator hooks, invalid maps counted."""

from __future__ import annotations

import pytest
import torch

from wsol.cams.pipeline import scoremaps
from wsol.evaluation.evaluators import CLASS_KEYS, ProtocolMetrics
from wsol.evaluation.loop import EvalBatch, Evaluator, evaluate, score_batch
from wsol.evaluation.protocol import Protocol
from wsol.methods import CAMMethod
from wsol.metrics import MaxBoxAcc, PxAP
from wsol.models import build_backbone

PROTOCOL = Protocol(cam_curve_interval=0.05, iou_thresholds=(30, 50), loc_multi_contour=True)


def _batches(count: int = 3, size: int = 4, seed: int = 0) -> list[dict]:
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for b in range(count):
        masks = torch.zeros(size, 32, 32, dtype=torch.uint8)
        boxes = []
        for n in range(size):
            x0, y0 = torch.randint(0, 16, (2,), generator=generator).tolist()
            masks[n, y0 : y0 + 12, x0 : x0 + 10] = 1
            masks[n, 0, :4] = 255  # some ignored pixels
            boxes.append(torch.tensor([[x0, y0, x0 + 9, y0 + 11]]))
        batches.append(
            {
                "images": torch.randn(size, 3, 32, 32, generator=generator),
                "labels": torch.randint(0, 3, (size,), generator=generator),
                "gt_boxes": boxes,
                "gt_masks": masks,
                "indices": torch.arange(b * size, (b + 1) * size),
            }
        )
    return batches


class Recorder(Evaluator):
    def __init__(self) -> None:
        self.indices: list[int] = []

    def process(self, batch: EvalBatch) -> None:
        assert batch.output is not None and batch.scoremaps.dtype == torch.float64
        self.indices += batch.indices.tolist()

    def compute(self) -> dict:
        return {"indices": self.indices}


def test_saved_maps_score_like_the_method_that_made_them():
    torch.manual_seed(0)
    method = CAMMethod(build_backbone("tiny", widths=(4, 6, 8)), 3).eval()
    batches = _batches()
    results = evaluate(
        batches,
        {"metrics": ProtocolMetrics(PROTOCOL, with_masks=True), "recorder": Recorder()},
        method=method,
    )
    assert results["recorder"]["indices"] == list(range(12))  # every image once, in order
    saved = []
    for batch in batches:
        scored = score_batch(method, batch)
        saved.append({**batch, "scoremaps": scored.scoremaps, "logits": scored.logits})
        saved[-1].pop("images")
    again = evaluate(saved, {"m": ProtocolMetrics(PROTOCOL, with_masks=True)})["m"]
    unlabelled = evaluate(
        [{k: v for k, v in b.items() if k not in ("labels", "logits")} for b in saved],
        {"m": ProtocolMetrics(PROTOCOL, with_masks=True, with_labels=False)},
    )["m"]
    expected = results["metrics"]
    for key, value in expected.items():
        if key == "curves":
            continue
        assert again[key] == value, key
        assert unlabelled[key] == (None if key in CLASS_KEYS else value), key
    assert expected["maxboxaccv2_iou30"] is not None and "maxboxaccv2_iou70" not in expected


def test_unlabelled_metrics_equal_the_single_metrics():
    """What saved-map scoring computed by hand (V2 + V1 + PxAP), from one shared sweep."""
    generator = torch.Generator().manual_seed(3)
    batches = _batches(seed=3)
    for batch in batches:
        batch["scoremaps"] = torch.rand(4, 32, 32, dtype=torch.float64, generator=generator)
    ours = evaluate(batches, {"m": ProtocolMetrics(PROTOCOL, True, with_labels=False)})["m"]
    interval = PROTOCOL.cam_curve_interval
    v2 = MaxBoxAcc(PROTOCOL.iou_thresholds, interval, multi_contour=True)
    v1 = MaxBoxAcc((50,), interval, multi_contour=False)
    pxap = PxAP(interval)
    for batch in batches:
        v2.update(batch["scoremaps"], batch["gt_boxes"])
        v1.update(batch["scoremaps"], batch["gt_boxes"])
        pxap.update(batch["scoremaps"], batch["gt_masks"])
    assert ours["maxboxaccv2"] == pytest.approx(float(v2.compute()["value"]), abs=1e-12)
    assert ours["maxboxacc"] == pytest.approx(float(v1.compute()["value"]), abs=1e-12)
    assert ours["pxap"] == pytest.approx(float(pxap.compute()["value"]), abs=1e-12)


def test_invalid_maps_are_counted_and_labels_are_required_where_declared():
    batches = _batches(count=1)
    maps, invalid = scoremaps(torch.rand(4, 4, 4).index_fill(0, torch.tensor([2]), 0.5), (32, 32))
    batches[0].update(scoremaps=maps, invalid=invalid)
    result = evaluate(batches, {"m": ProtocolMetrics(PROTOCOL, True, with_labels=False)})["m"]
    assert result["invalid_cams"] == 1.0
    with pytest.raises(ValueError, match="with_labels=False"):
        evaluate(batches, {"m": ProtocolMetrics(PROTOCOL, True)})
    with pytest.raises(ValueError, match="needs batch\\['scoremaps'\\]"):
        score_batch(None, {"images": torch.zeros(1, 3, 8, 8)})


def test_a_fixed_loc_threshold_comes_from_the_protocol():
    batches = _batches(count=1)
    batches[0]["scoremaps"] = torch.rand(4, 32, 32, dtype=torch.float64)
    fixed = ProtocolMetrics(PROTOCOL.replace(loc_threshold=0.3), True, with_labels=False)
    assert evaluate(batches, {"m": fixed})["m"]["loc_threshold"] == pytest.approx(0.3)
