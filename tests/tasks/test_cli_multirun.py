"""``wsol-train -m method=cam,acol`` through the CLI in a subprocess: a Hydra multirun that trains
and evaluates both methods, each in its own run directory with its own metrics.json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

pytestmark = pytest.mark.slow

WSOL_TRAIN = Path(sys.executable).parent / "wsol-train"
TINY = [
    "data.preparer.train_size=96",
    "data.preparer.val_size=16",
    "data.preparer.test_size=24",
    "data.preparer.probes=[]",
    "data.batch_size=32",
    "trainer.max_epochs=1",
    "extras.print_config=false",
    "trainer.enable_progress_bar=false",
    "callbacks.progress_bar=null",
]


def test_multirun_trains_and_evaluates_cam_and_acol(tmp_path):
    env = {
        **os.environ,
        "WSOL_DATA_DIR": str(tmp_path / "data"),
        "WSOL_LOG_DIR": str(tmp_path / "logs"),
    }
    result = subprocess.run(
        [str(WSOL_TRAIN), "-m", "method=cam,acol", "run_name=sweep", *TINY],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
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
