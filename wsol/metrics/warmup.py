"""Compile the metric kernels ahead of their first use, optionally in a background process.

The numba kernels are compiled once per machine and cached next to the package
(``cache=True``); on a fresh clone that first compilation takes about half a minute on a
2-core CPU. ``wsol-train`` starts it in a background process while the synthetic benchmark is
being generated (a single-core job), so the two overlap instead of adding up.

    python -m wsol.metrics.warmup    # compile (or load) every kernel, then exit
"""

from __future__ import annotations

import os
import subprocess
import sys

import torch

from wsol.metrics.boxes import MaxBoxAcc
from wsol.metrics.collection import WSOLMetrics
from wsol.metrics.masks import PxAP


def compile_kernels() -> None:
    """Run every kernel once on small inputs of each dtype the evaluation uses."""
    generator = torch.Generator().manual_seed(0)
    boxes = [torch.tensor([[4.0, 6.0, 20.0, 24.0]], dtype=torch.float64)] * 2
    labels, logits = torch.tensor([0, 1]), torch.randn(2, 3, generator=generator)
    masks = (torch.rand(2, 32, 32, generator=generator) > 0.5).to(torch.uint8)
    for dtype in (torch.float64, torch.float32):
        maps = torch.rand(2, 32, 32, generator=generator, dtype=dtype)
        for multi_contour in (False, True):
            metrics = WSOLMetrics(with_masks=True, loc_multi_contour=multi_contour)
            metrics.update(maps, boxes, labels, logits, masks)
            metrics.compute()
        box_metric = MaxBoxAcc(multi_contour=False)
        box_metric.update(maps, boxes)
        box_metric.compute()
        pixel_metric = PxAP()
        pixel_metric.update(maps, masks)
        pixel_metric.compute()


def start_background_compilation() -> subprocess.Popen:
    """``python -m wsol.metrics.warmup`` in a quiet single-threaded subprocess."""
    return subprocess.Popen(
        [sys.executable, "-m", "wsol.metrics.warmup"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "OMP_NUM_THREADS": "1", "WSOL_METRIC_THREADS": "1"},
    )


if __name__ == "__main__":
    compile_kernels()
