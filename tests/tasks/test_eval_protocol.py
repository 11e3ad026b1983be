"""The checkpoint carries its evaluation protocol: wsol-eval reproduces a run trained with
``eval=fine`` to the last digit, and only explicit command-line settings replace the protocol."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from tests.helpers.trained_run import trained_run

pytestmark = pytest.mark.slow


@pytest.fixture
def fine_run(tmp_path_factory):
    """A small run trained and validated with 1000 CAM thresholds (not the eval default),
    trained once per session."""
    run_dir = trained_run(tmp_path_factory, ("eval=fine",))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return metrics, run_dir, run_dir / "checkpoints" / "last.ckpt"


def protocol(folder) -> dict:
    return json.loads((folder / "protocol.json").read_text())


def test_eval_uses_the_stored_protocol(run, fine_run):
    trained, run_dir, checkpoint = fine_run
    evaluated, eval_dir = run("eval", [f"ckpt_path={checkpoint}"], name="stored")
    test_keys = {k for k in trained if k.startswith("test/")}
    for key in ("maxboxacc", "maxboxaccv2", "pxap", "gt_known_loc", "top1_loc", "loc_threshold"):
        assert f"test/{key}" in test_keys, key
    assert {k: evaluated[k] for k in test_keys} == {k: trained[k] for k in test_keys}
    used = protocol(eval_dir)
    assert used["cam_curve_interval"] == 0.001 and used["overridden"] == []
    assert used["loc_threshold"] == trained["val/loc_threshold"]
    assert {k: v for k, v in used.items() if k != "overridden"} == protocol(run_dir)


@pytest.mark.parametrize(
    ("override", "overridden"),
    [
        ("eval=default", ["cam_curve_interval", "iou_thresholds", "loc_multi_contour"]),
        ("eval.cam_curve_interval=0.01", ["cam_curve_interval"]),
    ],
)
def test_an_explicit_override_wins_and_is_logged(run, fine_run, caplog, override, overridden):
    trained, _, checkpoint = fine_run
    with caplog.at_level(logging.INFO, logger="wsol"):
        evaluated, eval_dir = run("eval", [f"ckpt_path={checkpoint}", override], name="over")
    used = protocol(eval_dir)
    assert used["cam_curve_interval"] == 0.01 and used["overridden"] == overridden
    assert "given on the command line replace the checkpoint's" in caplog.text
    # The validation threshold still applies, snapped to the coarser grid (0.001 -> 0.01 steps).
    grid = np.arange(0, 1, 0.01)
    snapped = grid[np.argmin(np.abs(grid - trained["val/loc_threshold"]))]
    assert evaluated["test/loc_threshold"] == snapped
    # Best thresholds now lie on the 0.01 grid.
    assert round(evaluated["test/best_threshold_v1"] * 100, 9) % 1 == 0
