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

import numpy as np

from wsol.metrics import checks
from wsol.metrics import functional as F

# The IoU thresholds of the protocol's box metrics (any give the same kernel signatures).
_IOUS = (30, 50, 70)


def compile_kernels(evaluation_only: bool = False) -> None:
    """Run every compiled kernel once on small inputs, through the numpy layer the metric
    classes call (`wsol.metrics.functional`, `checks`): the same kernel signatures without
    importing torch or torchmetrics, seconds of CPU beside a first run.
    `tests/metrics/test_warmup.py` checks that the metric classes then compile nothing new.

    Args:
        evaluation_only: only what an evaluation pass (validation, test, ``wsol-eval``) runs:
            the CAM pipeline's float64 score maps through both contour modes, the PxAP
            histograms and the heatmap panel's boxes. False: float32 maps too (every
            signature the public API compiles).
    """
    rng = np.random.default_rng(0)
    gt_boxes = [np.array([[4, 6, 20, 24]], np.int64)] * 2
    masks = (rng.random((2, 32, 32)) > 0.5).astype(np.uint8)
    thresholds = F.cam_thresholds(0.01)
    # WSOLMetrics' shared sweep (both contour modes, the per-image rows of localization), and
    # each box metric on its own.
    v2, v1 = F.BoxPlan.request(True, _IOUS), F.BoxPlan.request(False, _IOUS)
    plans = [
        F.BoxPlan.merge(v2, v1, F.BoxPlan.request(loc_multi_contour, _IOUS, per_image=True))
        for loc_multi_contour in (False, True)
    ]
    plans += [v2, v1]
    for dtype in (np.float64,) if evaluation_only else (np.float64, np.float32):
        maps = checks.check_scoremaps(rng.random((2, 32, 32)).astype(dtype))
        flat, offsets = checks.check_boxes(gt_boxes, *maps.shape)
        checks.check_masks(masks, maps.shape)
        for plan in plans:
            F.box_counts(maps, flat, offsets, thresholds, plan)
        F.score_histograms(maps, masks, 0.01)
        for multi in (False, True):
            F.boxes_at_threshold(maps[0], 0.5, multi)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--evaluation", action="store_true", help="only the kernels an evaluation pass runs"
    )
    compile_kernels(evaluation_only=parser.parse_args(argv).evaluation)


if __name__ == "__main__":
    main()
