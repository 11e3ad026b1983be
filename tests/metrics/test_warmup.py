"""Metric kernels compiled ahead of use, in the background only while data are generated."""

from __future__ import annotations

from types import SimpleNamespace

from wsol.metrics.warmup import compile_kernels
from wsol.tasks.train import compile_metrics_during_generation


def _datamodule(complete: bool):
    return SimpleNamespace(preparer=SimpleNamespace(is_complete=lambda: complete))


def test_compile_kernels_runs_every_metric():
    compile_kernels()  # raises if a kernel or its inputs were wrong


def test_background_compilation_only_while_generating_on_rank_zero():
    rank0, rank1 = SimpleNamespace(global_rank=0), SimpleNamespace(global_rank=1)
    assert compile_metrics_during_generation(_datamodule(True), rank0) is None
    assert compile_metrics_during_generation(_datamodule(False), rank1) is None
    assert compile_metrics_during_generation(SimpleNamespace(preparer=None), rank0) is None
    process = compile_metrics_during_generation(_datamodule(False), rank0)
    assert process is not None and process.wait(timeout=300) == 0
