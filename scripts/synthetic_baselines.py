"""Reference numbers of the synthetic benchmark: what geometry alone, a part-only map and a
whole-object map score, and where a trained model's maps fall between them.

    python scripts/synthetic_baselines.py                       # model-free baselines
    python scripts/synthetic_baselines.py --ckpt logs/train/runs/<run>/checkpoints/last.ckpt

Trailing arguments are Hydra overrides of the train config (e.g. ``data.preparer.seed=1``,
``eval=fine``: the model-free baselines are scored under its ``eval`` protocol). With
``--ckpt`` the checkpoint is evaluated on test under its own protocol (its validation CAM
threshold included), its object and part coverage at that threshold are measured, and the two
evidence probes are run: top-1 on test images whose part is replaced by a decoy (body evidence
only) and on images with random body colour and stripes (part evidence only).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from tqdm import tqdm

from wsol.analysis.part_whole import evaluate_part_whole, part_mask_in_frame
from wsol.analysis.reference_maps import (
    centred_box_map,
    full_image_map,
    mask_at_class_map_resolution,
)
from wsol.checkpoints.load import module_from_checkpoint
from wsol.configuration.compose import compose_config
from wsol.data.dataset import gt_boxes_in_frame, gt_mask_in_frame
from wsol.data.synthetic import read_parts
from wsol.evaluation.evaluators import ProtocolMetrics
from wsol.evaluation.loop import evaluate
from wsol.evaluation.protocol import Protocol
from wsol.metrics import MaxBoxAcc

SIDES = np.round(np.arange(0.1, 1.0001, 0.05), 2)
#: Maps scored per batch.
CHUNK = 256


def targets(datamodule, split: str):
    """GT boxes, object masks and part masks of a split in its evaluation frame."""
    frame = datamodule.eval_frame
    metadata = datamodule.split(split)
    parts = read_parts(metadata.metadata_dir)
    records = metadata.records
    boxes = [gt_boxes_in_frame(r, frame) for r in records]
    masks = torch.stack([gt_mask_in_frame(r, frame) for r in records])
    part_masks = torch.stack([part_mask_in_frame(r, parts[r.image_id], frame) for r in records])
    return boxes, masks, part_masks, parts


def score(maps: torch.Tensor, boxes, masks, protocol: Protocol) -> dict[str, float]:
    """MaxBoxAccV2, MaxBoxAcc and PxAP of fixed maps [N, H, W] under ``protocol``, through the
    one evaluation entry (the maps stand for the GT class's: no labels)."""
    batches = (
        {"scoremaps": maps[i : i + CHUNK], "gt_boxes": boxes[i : i + CHUNK],
         "gt_masks": masks[i : i + CHUNK]}
        for i in range(0, len(maps), CHUNK)
    )  # fmt: skip
    metrics = ProtocolMetrics(protocol, with_masks=True, with_labels=False)
    results = evaluate(batches, {"metrics": metrics})["metrics"]
    return {name: results[name] for name in ("maxboxaccv2", "maxboxacc", "pxap")}


def best_centred_box(datamodule, split: str, protocol: Protocol) -> tuple[float, float]:
    """(width, height) fractions of the centred box with the best MaxBoxAccV2 on ``split``.

    The maps are binary, so every threshold below 1 gives the same box: the search runs
    MaxBoxAccV2 at the protocol's IoUs on a two-threshold grid (interval 0.5).
    """
    boxes, masks, _, _ = targets(datamodule, split)
    best, best_value = (1.0, 1.0), -1.0
    frame = datamodule.eval_frame
    for width in tqdm(SIDES, desc=f"centred boxes on {split}", leave=False):
        for height in SIDES:
            maps = centred_box_map(frame, width, height).expand(len(boxes), *frame)
            v2 = MaxBoxAcc(iou_thresholds=protocol.iou_thresholds, cam_curve_interval=0.5)
            v2.update(maps.contiguous(), boxes)
            value = float(v2.compute()["value"])
            if value > best_value:
                best, best_value = (float(width), float(height)), value
    return best


def model_free_baselines(
    datamodule, stride: int, protocol: Protocol
) -> dict[str, dict[str, float]]:
    boxes, masks, part_masks, _ = targets(datamodule, "test")
    frame, n = datamodule.eval_frame, len(boxes)
    results = {}
    for name, split in (
        ("centred box (chosen on val)", "val"),
        ("centred box (best on test)", "test"),
    ):
        width, height = best_centred_box(datamodule, split, protocol)
        maps = centred_box_map(frame, width, height).expand(n, *frame).contiguous()
        results[name] = {**score(maps, boxes, masks, protocol), "width": width, "height": height}
    results["full-image box"] = score(
        full_image_map(frame).expand(n, *frame).contiguous(), boxes, masks, protocol
    )
    part_maps, _ = mask_at_class_map_resolution(part_masks, stride)
    results["part-only map (class-map resolution)"] = score(part_maps, boxes, masks, protocol)
    whole_maps, _ = mask_at_class_map_resolution(masks == 1, stride)
    results["whole-object map (class-map resolution)"] = score(whole_maps, boxes, masks, protocol)
    return results


def trained_model(ckpt: Path, datamodule, probes: list[str]) -> dict[str, float]:
    module, _ = module_from_checkpoint(ckpt)
    _, _, _, parts = targets(datamodule, "test")
    result = evaluate_part_whole(module, datamodule, "test", parts)  # the checkpoint's protocol
    for probe in probes:
        probe_result = evaluate_part_whole(module, datamodule, probe)
        result[f"{probe}/top1_acc"] = probe_result["top1_acc"]
    return result


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ckpt", type=Path, help="a wsol-train checkpoint to analyse")
    parser.add_argument("--output", type=Path, help="write the numbers as JSON here")
    args, overrides = parser.parse_known_args(argv)
    cfg = compose_config("train", overrides)
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    stride = instantiate(cfg.backbone).stride
    protocol = Protocol.from_dict(OmegaConf.to_container(cfg.eval, resolve=True), where="eval")
    results: dict = {"baselines": model_free_baselines(datamodule, stride, protocol)}
    if args.ckpt:
        probes = [f"test_{p}" for p in cfg.data.preparer.get("probes", [])]
        results["model"] = trained_model(args.ckpt, datamodule, probes)
    print(json.dumps(results, indent=2))
    if args.output:
        args.output.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
