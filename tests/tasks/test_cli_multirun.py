"""``wsol-train -m method=cam,acol`` through the CLI in a subprocess: a Hydra multirun that trains
and evaluates both methods, each in its own run directory with its own metrics.json."""

from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf

from tests.helpers.cli import run_cli
from tests.helpers.small_run import SMALL_RUN

pytestmark = pytest.mark.slow


def test_multirun_trains_and_evaluates_cam_and_acol(tmp_path):
    overrides = [*SMALL_RUN, "trainer.max_epochs=1"]
    run_cli("wsol-train", ["-m", "method=cam,acol", "run_name=sweep", *overrides], tmp_path)
    sweep = tmp_path / "logs" / "train" / "multiruns" / "sweep"
    targets = {}
    for job in ("0", "1"):
        metrics = json.loads((sweep / job / "metrics.json").read_text())
        assert 0 <= metrics["test/maxboxaccv2"] <= 100 and "val/maxboxaccv2" in metrics
        config = OmegaConf.load(sweep / job / "config_resolved.yaml")
        targets[job] = config.method._target_
        assert (sweep / job / "checkpoints" / "last.ckpt").is_file()
    assert targets == {"0": "wsol.methods.CAMMethod", "1": "wsol.methods.ACoLMethod"}
    assert not (tmp_path / "logs" / "train" / "runs").exists()
