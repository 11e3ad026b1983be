"""Metric kernels compiled ahead of use, in the background when they are not cached yet."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from wsol.metrics import _compiled
from wsol.metrics.warmup import compile_kernels, main
from wsol.tasks import compile_ahead
from wsol.tasks.train import AwaitCompilation, compile_metrics_ahead


@pytest.mark.parametrize("argv", [[], ["--evaluation"]])
def test_compile_kernels_runs_every_metric(argv):
    main(argv)  # raises if a kernel or its inputs were wrong


# Runs the warm-up, then the metric classes as an evaluation pass (and, unless evaluation_only,
# every public metric on float32 maps too), in a fresh interpreter: prints the compiled kernel
# signatures after each step, and whether the warm-up imported torch or torchmetrics.
_SIGNATURES_SCRIPT = """
import importlib, json, sys
evaluation_only = sys.argv[1] == "evaluation"
from wsol.metrics import _compiled, warmup
modules = [importlib.import_module(f"wsol.metrics.{m}") for m in _compiled.KERNEL_MODULES]
def signatures():
    return sorted(
        f"{m.__name__}.{name}{sig}"
        for m in modules for name, kernel in vars(m).items() if hasattr(kernel, "signatures")
        for sig in kernel.signatures
    )
warmup.compile_kernels(evaluation_only=evaluation_only)
warmed = signatures()
imported = sorted(name for name in ("torch", "torchmetrics") if name in sys.modules)
import torch
from wsol.cams.boxes import cam_boxes
from wsol.cams.pipeline import scoremaps
from wsol.metrics import MaxBoxAcc, PxAP, WSOLMetrics
generator = torch.Generator().manual_seed(1)
boxes = [torch.tensor([[3.0, 5.0, 30.0, 41.0]], dtype=torch.float64)] * 3
labels, logits = torch.tensor([0, 1, 2]), torch.randn(3, 4, generator=generator)
masks = (torch.rand(3, 48, 48, generator=generator) > 0.5).to(torch.uint8)
maps, _ = scoremaps(torch.rand(3, 7, 7, generator=generator), (48, 48))
for dtype_maps in [maps] if evaluation_only else [maps, maps.float()]:
    for multi_contour in (False, True):
        metrics = WSOLMetrics(with_masks=True, loc_multi_contour=multi_contour)
        metrics.update(dtype_maps, boxes, labels, logits, masks)
        metrics.compute()
        cam_boxes(dtype_maps[0], 0.4, multi_contour)
    if not evaluation_only:
        for multi_contour in (False, True):
            metric = MaxBoxAcc(multi_contour=multi_contour)
            metric.update(dtype_maps, boxes)
            metric.compute()
        pixel_metric = PxAP()
        pixel_metric.update(dtype_maps, masks)
        pixel_metric.compute()
print(json.dumps({"warmed": warmed, "after": signatures(), "imported": imported}))
"""


@pytest.mark.slow  # two fresh interpreters that import torch and load the kernels
@pytest.mark.parametrize("mode", ["evaluation", "all"])
def test_the_warm_up_compiles_every_signature_the_metrics_use_without_torch(mode):
    """After the warm-up (numpy layer only), an evaluation pass through the metric classes
    (and, for the full warm-up, every public metric on float32 maps) compiles nothing new."""
    done = subprocess.run(
        [sys.executable, "-c", _SIGNATURES_SCRIPT, mode],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["imported"] == []
    assert any(".box_flags_maps(" in sig for sig in result["warmed"])
    assert any(".histogram_maps(" in sig for sig in result["warmed"])
    assert result["after"] == result["warmed"]
    float32 = [sig for sig in result["warmed"] if "float32" in sig]
    assert bool(float32) == (mode == "all")


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
