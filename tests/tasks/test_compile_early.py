"""wsol-train starts the metric kernels' background compilation before its config validation."""

from __future__ import annotations

import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from wsol.configuration.compose import compose_config
from wsol.tasks import compile_ahead


@pytest.fixture
def started(monkeypatch) -> list[bool]:
    calls: list[bool] = []
    monkeypatch.setattr(compile_ahead, "start", lambda *a, **k: calls.append(True))
    return calls


def test_the_callback_starts_only_runs_that_train(started):
    callback = compile_ahead.StartWhenTraining()
    for config, expected in (({"train": True}, 1), ({"train": False}, 1), ({}, 1)):
        callback.on_run_start(OmegaConf.create(config))
        assert len(started) == expected  # only the first: train=true


@pytest.mark.parametrize(("name", "starts"), [("train", True), ("eval", False), ("predict", False)])
def test_it_runs_before_the_config_validation(name, starts, started):
    cfg = compose_config(name)
    names = list(cfg.hydra.callbacks)
    assert names.index("compile_metrics") < names.index("validate")
    callback = compile_ahead.StartWhenTraining()
    callback.on_run_start(cfg)
    assert started == ([True] if starts else [])


def test_an_unclaimed_compilation_ends_with_the_process(monkeypatch):
    """A run refused after the start (a bad config) leaves no compilation running."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    monkeypatch.setattr(compile_ahead, "_started", sleeper)
    try:
        compile_ahead._stop_unclaimed()
        assert sleeper.wait(timeout=10) != 0
    finally:
        sleeper.kill()
    monkeypatch.setattr(compile_ahead, "_started", None)
    compile_ahead._stop_unclaimed()  # nothing started, or taken over by the run: nothing to do
