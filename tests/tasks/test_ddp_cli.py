"""Two CPU processes (gloo) through the CLI: DDP training runs, DDP evaluation is exact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.cli import run_cli as cli
from tests.helpers.small_run import SMALL_RUN

pytestmark = [pytest.mark.slow, pytest.mark.ddp]


def metrics(tmp_path: Path, task: str, run: str) -> dict:
    return json.loads((tmp_path / "logs" / task / "runs" / run / "metrics.json").read_text())


def test_ddp_training_and_exact_ddp_evaluation(tmp_path):
    # An odd-sized test split: an evaluation sampler that padded would count an image twice.
    data = [*SMALL_RUN, "data.preparer.test_size=25", "trainer.max_epochs=1"]
    cli("wsol-train", [*data, "trainer=ddp_cpu", "run_name=ddp"], tmp_path)
    trained = metrics(tmp_path, "train", "ddp")
    assert 0 <= trained["test/maxboxaccv2"] <= 100
    ckpt = tmp_path / "logs/train/runs/ddp/checkpoints/last.ckpt"
    cli(
        "wsol-eval", [f"ckpt_path={ckpt}", "run_name=single", "extras.print_config=false"], tmp_path
    )
    cli(
        "wsol-eval",
        [f"ckpt_path={ckpt}", "run_name=double", "trainer=ddp_cpu", "extras.print_config=false"],
        tmp_path,
    )
    single, double = metrics(tmp_path, "eval", "single"), metrics(tmp_path, "eval", "double")
    assert single == double
    # Training's own test pass ran under DDP too, on the same weights.
    assert {k: v for k, v in trained.items() if k.startswith("test/")} == single
