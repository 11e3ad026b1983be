"""A small synthetic benchmark shared by the training tests, and a run helper."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import open_dict

from tests.conftest import compose_config
from tests.helpers.small_run import SMALL_RUN


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture
def run(tmp_path, data_dir):
    """``run(task, overrides, name)`` composes ``configs/<task>.yaml`` and runs it in-process.

    Returns (metrics, output_dir). Runs share the session's data and this test's log folder.
    """

    def _run(task: str, overrides: list[str], name: str = "run"):
        base = SMALL_RUN if task == "train" else ["extras.print_config=false"]
        cfg = compose_config(task, [*base, *overrides], tmp_path, data_dir)
        output_dir = tmp_path / "logs" / task / "runs" / name
        with open_dict(cfg):
            cfg.paths.output_dir = str(output_dir)
        if task == "train":
            from wsol.tasks.train import train

            train(cfg)
        else:
            from wsol.tasks.evaluate import evaluate

            evaluate(cfg)
        output_dir = Path(cfg.paths.output_dir)  # a resumed run continues in its own folder
        return json.loads((output_dir / "metrics.json").read_text()), output_dir

    return _run
