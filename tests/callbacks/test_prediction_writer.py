"""The prediction writer's records: the top-1 map's boxes, and the boxes of every extra map a
method declares (same threshold and contour mode), none for an invalid map."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import torch

from wsol.callbacks.prediction_writer import PredictionWriter
from wsol.cams.boxes import boxes_to_original, cam_boxes

FRAME = 32
SETTINGS = {"threshold": 0.4, "multi_contour": True, "frame": [FRAME, FRAME]}


def _blob(cx: float, cy: float, radius: float) -> torch.Tensor:
    y, x = torch.meshgrid(torch.arange(FRAME), torch.arange(FRAME), indexing="ij")
    return torch.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * radius**2)).double()


def _write(tmp_path, prediction: dict) -> list[dict]:
    trainer = SimpleNamespace(
        global_rank=0,
        world_size=1,
        is_global_zero=True,
        strategy=SimpleNamespace(barrier=lambda name: None),
    )
    writer = PredictionWriter(tmp_path / "out", tmp_path, SETTINGS, top_k=2, overlays=False)
    writer.on_predict_start(trainer, None)
    batch = {
        "failed_indices": [],
        "failed": [],
        "indices": [0, 1],
        "paths": [str(tmp_path / "a.png"), str(tmp_path / "b.png")],
        "sizes": [(64, 48), (FRAME, FRAME)],
        "originals": [np.zeros((64, 48, 3), np.uint8), np.zeros((FRAME, FRAME, 3), np.uint8)],
    }
    writer.write_on_batch_end(trainer, None, prediction, None, batch, 0)
    writer.on_predict_end(trainer, None)
    text = (tmp_path / "out" / "predictions.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def _prediction(extras: bool) -> dict:
    main = torch.stack([_blob(10, 12, 4), _blob(20, 20, 6)])
    prediction = {
        "probabilities": torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]]),
        "cams": main.float(),
        "scoremaps": main,
        "invalid": torch.tensor([False, False]),
    }
    if extras:
        branch = torch.stack([_blob(24, 6, 3), torch.zeros(FRAME, FRAME, dtype=torch.float64)])
        prediction["extra_scoremaps"] = {"branch A": branch, "branch B": main.flip(-1)}
        prediction["extra_invalid"] = {
            "branch A": torch.tensor([False, True]),  # a constant map: no boxes
            "branch B": torch.tensor([False, False]),
        }
    return prediction


def _expected(scoremap: torch.Tensor, size: tuple[int, int]) -> dict:
    frame_boxes = cam_boxes(scoremap, SETTINGS["threshold"], SETTINGS["multi_contour"])
    boxes = boxes_to_original(frame_boxes, scoremap.shape, size)
    return {"cam_valid": True, "boxes": boxes.tolist(), "boxes_frame": frame_boxes.tolist()}


def test_records_hold_the_boxes_of_every_declared_map(tmp_path):
    prediction = _prediction(extras=True)
    records = _write(tmp_path, prediction)
    sizes = [(64, 48), (FRAME, FRAME)]
    for n, record in enumerate(records):
        main = _expected(prediction["scoremaps"][n], sizes[n])
        assert {key: record[key] for key in main} == main
        assert set(record["extra_maps"]) == {"branch A", "branch B"}
        flipped = _expected(prediction["extra_scoremaps"]["branch B"][n], sizes[n])
        assert record["extra_maps"]["branch B"] == flipped
        assert record["extra_maps"]["branch B"]["boxes_frame"] != main["boxes_frame"]
    assert records[0]["extra_maps"]["branch A"] == _expected(
        prediction["extra_scoremaps"]["branch A"][0], sizes[0]
    )
    invalid = {"cam_valid": False, "boxes": [], "boxes_frame": []}
    assert records[1]["extra_maps"]["branch A"] == invalid


def test_records_of_a_method_without_extra_maps_have_none(tmp_path):
    records = _write(tmp_path, _prediction(extras=False))
    assert all("extra_maps" not in record for record in records)
    assert [r["class_id"] for r in records] == [0, 2]
