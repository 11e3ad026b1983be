"""Metric kernels compiled ahead of use, in the background when they are not cached yet."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

from wsol.metrics import _compiled
from wsol.metrics.warmup import compile_kernels, main
from wsol.tasks import compile_ahead
from wsol.tasks.train import AwaitCompilation, compile_metrics_ahead


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


@pytest.mark.slow  # starts and waits for the real compilation process
def test_background_compilation_only_when_not_cached_on_rank_zero(monkeypatch, tmp_path):
    rank0, rank1 = SimpleNamespace(global_rank=0), SimpleNamespace(global_rank=1)
    monkeypatch.setattr(compile_ahead, "kernels_cached", lambda: True)
    assert compile_metrics_ahead(rank0) is None
    monkeypatch.setattr(compile_ahead, "kernels_cached", lambda: False)
    assert compile_metrics_ahead(rank1) is None
    monkeypatch.setenv("LOCAL_RANK", "1")  # a second process of a DDP run
    assert compile_ahead.start() is None and compile_metrics_ahead(rank0) is None
    monkeypatch.delenv("LOCAL_RANK")
    early = compile_ahead.start()  # what wsol-train does first thing
    assert early is not None and compile_ahead.start() is None  # one at a time
    assert compile_metrics_ahead(rank0) is early  # the run waits for that one
    assert early.wait(timeout=300) == 0
    assert compile_ahead.take() is None  # handed over once


@pytest.mark.parametrize("user_level", [None, "3"])
def test_background_compilation_optimizes_at_the_kernel_level_unless_set(monkeypatch, user_level):
    started = []
    monkeypatch.setattr(compile_ahead, "kernels_cached", lambda: False)
    monkeypatch.setattr(compile_ahead, "_started", None)
    monkeypatch.setattr(compile_ahead.subprocess, "Popen", lambda *a, **kw: started.append(kw))
    for name in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID", "NUMBA_OPT"):
        monkeypatch.delenv(name, raising=False)
    if user_level is not None:
        monkeypatch.setenv("NUMBA_OPT", user_level)
    compile_ahead.start()
    assert started[0]["env"]["NUMBA_OPT"] == (user_level or compile_ahead.KERNEL_OPT_LEVEL)
    assert started[0]["env"]["WSOL_METRIC_THREADS"] == "1"


def test_cached_kernels_are_found_in_the_package_or_numba_cache_dir(monkeypatch, tmp_path):
    compile_kernels(evaluation_only=True)  # cached next to the package (cache=True)
    assert compile_ahead.kernels_cached()
    monkeypatch.setattr(compile_ahead, "__file__", str(tmp_path / "wsol" / "tasks" / "x.py"))
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    assert not compile_ahead.kernels_cached()
    folder = tmp_path / "numba" / "some"
    _compiled.refresh_cache(folder)  # the stamp of the current kernel sources
    (folder / "_sweep.box_flags_maps-137.py311.nbi").touch()
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba"))
    assert compile_ahead.kernels_cached()
    # Built from other sources: not cached (they are deleted and compiled again at import).
    (folder / _compiled.STAMP_NAME).write_text("0" * 64 + "\n")
    assert not compile_ahead.kernels_cached()
    (folder / _compiled.STAMP_NAME).unlink()
    assert not compile_ahead.kernels_cached()
