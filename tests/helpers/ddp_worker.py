"""Worker of the two-process (gloo, CPU) metric parity tests.

Every rank updates the metrics with its own disjoint share of one data set (possibly
nothing at all, or images without boxes); compute() then reduces the states across ranks
(torchmetrics' sync) and every rank saves what it got: the results, or the error raised.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.distributed as dist

from tests.helpers.adversarial_maps import gt_boxes, scoremap
from wsol.metrics import LocalizationAccuracy, MaxBoxAcc, PxAP, WSOLMetrics

# Which images each rank gets, and whether rank 0's come without boxes, per layout.
LAYOUTS = {
    "shards": {0: slice(0, 7), 1: slice(7, None)},
    "rank0_empty": {0: None, 1: slice(None)},  # a split smaller than the world
    "rank0_no_boxes": {0: slice(0, 7), 1: slice(7, None)},  # rank 0: masks only
}


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


def make_metrics(layout: str = "shards") -> dict:
    """The metrics a layout checks (a mask split's collection only, without boxes)."""
    if layout == "rank0_no_boxes":
        return {"all": WSOLMetrics(0.01, (30, 50, 70), with_masks=True)}
    return {
        "v2": MaxBoxAcc((30, 50, 70), 0.01, multi_contour=True),
        "v1": MaxBoxAcc((50,), 0.001, multi_contour=False),
        "pxap": PxAP(0.01),
        "loc": LocalizationAccuracy(0.01),
        "all": WSOLMetrics(0.01, (30, 50, 70), with_masks=True),
        "all_boxes": WSOLMetrics(0.001, (50,), loc_multi_contour=True),
    }


def update(metrics: dict, data: dict, part: slice, with_boxes: bool = True) -> None:
    maps, boxes = data["maps"][part], data["boxes"][part] if with_boxes else None
    labels, logits, masks = data["labels"][part], data["logits"][part], data["masks"][part]
    for name, metric in metrics.items():
        if name in ("v2", "v1"):
            metric.update(maps, boxes)
        elif name == "pxap":
            metric.update(maps, masks)
        elif name == "loc":
            metric.update(maps, boxes, labels, logits)
        elif name == "all_boxes":
            metric.update(maps, boxes, labels, logits)
        else:
            metric.update(maps, boxes, labels, logits, gt_masks=masks)


def single_process(layout: str) -> dict:
    """What one process computes from all the ranks' inputs: results or error messages."""
    metrics = make_metrics(layout)
    data = make_data()
    for rank in (0, 1):
        part = LAYOUTS[layout][rank]
        if part is not None:
            with_boxes = not (layout == "rank0_no_boxes" and rank == 0)
            update(metrics, data, part, with_boxes)
    return compute_all(metrics)


def compute_all(metrics: dict) -> dict:
    out = {}
    for name, metric in metrics.items():
        try:
            out[name] = metric.compute()
        except ValueError as error:
            out[name] = f"ValueError: {error}"
    return out


def run(rank: int, world_size: int, init_file: str, out_path: str, layouts: list[str]) -> None:
    """Entry point of torch.multiprocessing.spawn: one process group, every layout in turn
    (one spawn for all of them); rank r saves layout L's results to ``out_path + L + r``."""
    dist.init_process_group(
        "gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size
    )
    try:
        for layout in layouts:
            metrics = make_metrics(layout)
            part = LAYOUTS[layout][rank]
            if part is not None:  # a rank without images never calls update
                boxes = not (layout == "rank0_no_boxes" and rank == 0)
                update(metrics, make_data(), part, boxes)
            torch.save(compute_all(metrics), f"{out_path}{layout}{rank}")
    finally:
        dist.destroy_process_group()
