"""Compile the metric kernels ahead of their first use, optionally in a background process.

The numba kernels are compiled once per machine and cached next to the package
(``cache=True``); on a fresh clone that first compilation takes about 15 CPU seconds on a
2-core machine, and each further signature (float32 maps besides float64 ones) adds seconds.
``wsol-train`` starts ``--evaluation`` (only what its evaluation passes run) in a background
process first thing when the kernels are not cached yet (`wsol.tasks.compile_ahead`), so the
compilation overlaps the run's imports, data generation and first epoch.

    python -m wsol.metrics.warmup                 # compile (or load) every kernel, then exit
    python -m wsol.metrics.warmup --evaluation    # only the kernels an evaluation pass runs
"""

from __future__ import annotations

import argparse

import torch

from wsol.cams.pipeline import scoremaps
from wsol.metrics.boxes import MaxBoxAcc
from wsol.metrics.collection import WSOLMetrics
from wsol.metrics.functional import boxes_at_threshold
from wsol.metrics.masks import PxAP


def compile_kernels(evaluation_only: bool = False) -> None:
    """Run the kernels once on small inputs.

    Args:
        evaluation_only: only what an evaluation pass (validation, test, ``wsol-eval``) runs:
            the CAM pipeline's score maps (float64) through `WSOLMetrics` in both contour
            modes and the heatmap panel's boxes. False: also float32 maps and each metric
            on its own (every signature the public API compiles).
    """
    generator = torch.Generator().manual_seed(0)
    boxes = [torch.tensor([[4.0, 6.0, 20.0, 24.0]], dtype=torch.float64)] * 2
    labels, logits = torch.tensor([0, 1]), torch.randn(2, 3, generator=generator)
    masks = (torch.rand(2, 32, 32, generator=generator) > 0.5).to(torch.uint8)
    maps, _ = scoremaps(torch.rand(2, 8, 8, generator=generator), (32, 32))
    every_dtype = [maps] if evaluation_only else [maps, maps.float()]
    for dtype_maps in every_dtype:
        for multi_contour in (False, True):
            metrics = WSOLMetrics(with_masks=True, loc_multi_contour=multi_contour)
            metrics.update(dtype_maps, boxes, labels, logits, masks)
            metrics.compute()
            boxes_at_threshold(dtype_maps[0].numpy(), 0.5, multi_contour)
        if evaluation_only:
            continue
        box_metric = MaxBoxAcc(multi_contour=False)
        box_metric.update(dtype_maps, boxes)
        box_metric.compute()
        pixel_metric = PxAP()
        pixel_metric.update(dtype_maps, masks)
        pixel_metric.compute()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--evaluation", action="store_true", help="only the kernels an evaluation pass runs"
    )
    compile_kernels(evaluation_only=parser.parse_args(argv).evaluation)


if __name__ == "__main__":
    main()
