"""Metric kernels compiled ahead of use, in the background only while data are generated."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

from wsol.metrics.warmup import compile_kernels, main
from wsol.tasks.train import AwaitCompilation, compile_metrics_during_generation


def _datamodule(complete: bool):
    return SimpleNamespace(preparer=SimpleNamespace(is_complete=lambda: complete))


@pytest.mark.parametrize("argv", [[], ["--evaluation"]])
def test_compile_kernels_runs_every_metric(argv):
    main(argv)  # raises if a kernel or its inputs were wrong


def test_evaluation_only_compiles_the_float64_pipeline_only(monkeypatch):
    """The run's background compile feeds WSOLMetrics the CAM pipeline's float64 maps only."""
    from wsol.metrics import warmup

    seen = []
    real = warmup.WSOLMetrics.update

    def spy(self, maps, *args, **kwargs):
        seen.append(maps.dtype)
        return real(self, maps, *args, **kwargs)

    monkeypatch.setattr(warmup.WSOLMetrics, "update", spy)
    compile_kernels(evaluation_only=True)
    assert set(seen) == {torch.float64}
    seen.clear()
    compile_kernels()
    assert set(seen) == {torch.float64, torch.float32}


def test_first_evaluation_waits_for_the_background_compilation():
    awaiting = AwaitCompilation()
    awaiting.on_validation_start(None, None)  # nothing started: nothing to wait for
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)"])
    awaiting.process = process
    awaiting.on_validation_start(None, None)
    assert process.poll() == 0 and awaiting.process is None
    awaiting.on_test_start(None, None)  # later passes do not wait


def test_background_compilation_only_while_generating_on_rank_zero():
    rank0, rank1 = SimpleNamespace(global_rank=0), SimpleNamespace(global_rank=1)
    assert compile_metrics_during_generation(_datamodule(True), rank0) is None
    assert compile_metrics_during_generation(_datamodule(False), rank1) is None
    assert compile_metrics_during_generation(SimpleNamespace(preparer=None), rank0) is None
    process = compile_metrics_during_generation(_datamodule(False), rank0)
    assert process is not None and process.wait(timeout=300) == 0
