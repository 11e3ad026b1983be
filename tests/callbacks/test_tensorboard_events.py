"""A short training's TensorBoard events hold the heatmap panels, the curves, the HParams
session and the scalars (read back with TensorBoard's own event reader)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from tests.helpers.trained_run import trained_run
from wsol.viz.overlay import GT_COLOR, PRED_COLOR

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return trained_run(tmp_path_factory)


@pytest.fixture(scope="module")
def events(run_dir):
    accumulator = EventAccumulator(
        str(run_dir / "tensorboard"), size_guidance={"images": 0, "scalars": 0, "tensors": 0}
    )
    accumulator.Reload()
    return accumulator


def decode(event) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(event.encoded_image_string)).convert("RGB"))


def test_heatmap_panel_every_validation_epoch(events):
    panels = events.Images("val/cam_heatmaps")
    assert len(panels) == 2  # two epochs, every_n_epochs=1; the final validate is not logged
    assert panels[0].step < panels[1].step
    pixels = decode(panels[-1])
    assert pixels.shape[:2] == (panels[-1].height, panels[-1].width)
    colours = {tuple(p) for p in pixels.reshape(-1, 3)}
    assert GT_COLOR in colours and PRED_COLOR in colours  # GT and predicted boxes are drawn


def test_threshold_curves_and_best_thresholds(events):
    tags = events.Tags()
    for tag in ("val/box_accuracy_curve", "val/precision_recall_curve"):
        assert tag in tags["images"] and len(events.Images(tag)) == 2
        assert decode(events.Images(tag)[-1]).shape[2] == 3
    for iou in (30, 50, 70):
        values = [s.value for s in events.Scalars(f"val/best_threshold_v2_iou{iou}")]
        assert len(values) == 2 and all(0 <= v < 1 for v in values)


def test_training_scalars(events):
    scalars = events.Tags()["scalars"]
    for tag in ("val/maxboxaccv2", "val/loc_threshold", "val/pxap", "train/loss_epoch"):
        assert tag in scalars


def test_hparams_session_holds_config_and_final_metrics(events, run_dir):
    content = events.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hparams = start.session_start_info.hparams
    assert hparams["module.optimizer.lr"].number_value == pytest.approx(0.006)
    assert hparams["method._target_"].string_value == "wsol.methods.CAMMethod"
    assert hparams["trainer.max_epochs"].number_value == 2
    assert not any(key.startswith(("hydra.", "paths.")) for key in hparams)
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"])
    metric_tags = {info.name.tag for info in experiment.experiment.metric_infos}
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert {f"hparams/{key}" for key, value in metrics.items() if value is not None} == metric_tags
    (logged,) = events.Scalars("hparams/test/maxboxaccv2")
    assert logged.value == pytest.approx(metrics["test/maxboxaccv2"], rel=1e-6)
