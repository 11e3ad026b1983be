"""Worker of the two-process (gloo, CPU) metric parity test.

Every rank updates the metrics with its own disjoint shard of one data set; compute()
then reduces the states across ranks (torchmetrics' sync) and rank 0 saves the results.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.distributed as dist

from tests.helpers.adversarial_maps import gt_boxes, scoremap
from wsol.metrics import LocalizationAccuracy, MaxBoxAcc, PxAP, WSOLMetrics


def make_data(n: int = 20, seed: int = 0) -> dict:
    """A small mixed data set: maps [n, 18, 22], boxes, labels, logits, masks."""
    rng = np.random.default_rng(seed)
    kinds = ("blobs", "rings", "noise", "levels", "plateau", "lines")
    maps = np.stack([scoremap(rng, kinds[i % len(kinds)], 18, 22) for i in range(n)])
    return {
        "maps": torch.from_numpy(maps),
        "boxes": [torch.from_numpy(gt_boxes(rng, m)) for m in maps],
        "labels": torch.from_numpy(rng.integers(0, 6, n)),
        "logits": torch.from_numpy(rng.standard_normal((n, 6))),
        "masks": torch.from_numpy(rng.choice(np.array([0, 1, 255], np.uint8), maps.shape)),
    }


def make_metrics() -> dict:
    return {
        "v2": MaxBoxAcc((30, 50, 70), 0.01, multi_contour=True),
        "v1": MaxBoxAcc((50,), 0.001, multi_contour=False),
        "pxap": PxAP(0.01),
        "loc": LocalizationAccuracy(0.01),
        "all": WSOLMetrics(0.01, (30, 50, 70), with_masks=True),
    }


def update(metrics: dict, data: dict, part: slice) -> None:
    maps, boxes = data["maps"][part], data["boxes"][part]
    labels, logits, masks = data["labels"][part], data["logits"][part], data["masks"][part]
    metrics["v2"].update(maps, boxes)
    metrics["v1"].update(maps, boxes)
    metrics["pxap"].update(maps, masks)
    metrics["loc"].update(maps, boxes, labels, logits)
    metrics["all"].update(maps, boxes, labels, logits, gt_masks=masks)


def run(rank: int, world_size: int, init_file: str, out_path: str) -> None:
    """Entry point of torch.multiprocessing.spawn: rank 0 takes the first 7 images."""
    dist.init_process_group(
        "gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size
    )
    try:
        data = make_data()
        metrics = make_metrics()
        update(metrics, data, slice(0, 7) if rank == 0 else slice(7, None))
        results = {name: metric.compute() for name, metric in metrics.items()}
        if rank == 0:
            torch.save(results, out_path)
    finally:
        dist.destroy_process_group()
