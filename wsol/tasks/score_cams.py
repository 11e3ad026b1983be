"""Score a directory of saved score maps against a wsolevaluation-format split.

Numbers from other code bases are re-scored with exactly the protocol of wsol's own test runs:
MaxBoxAccV2, MaxBoxAcc (V1) where the split has boxes, PxAP where it has masks. Only metadata
is needed (image sizes from image_sizes.txt), not the images.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from omegaconf import DictConfig
from tqdm import tqdm

from wsol.cams.saved import load_saved_map
from wsol.data.dataset import gt_boxes_in_frame, gt_mask_in_frame
from wsol.data.formats.wsoleval import read_split
from wsol.metrics import MaxBoxAcc, PxAP
from wsol.viz.curves import save_curve_figures

log = logging.getLogger("wsol")

# Maps scored per metric update.
BATCH_SIZE = 64


def score_cams_dir(cfg: DictConfig) -> dict[str, float]:
    """``wsol-eval cams_dir=DIR metadata_dir=DIR [mask_root=DIR] [split=NAME] [eval.*]``.

    Also writes the curves as ``<split>_box_accuracy.png`` / ``<split>_precision_recall.png``
    into ``paths.output_dir`` (next to metrics.json).

    Returns:
        Metrics keyed ``<split>/maxboxaccv2``, ``<split>/maxboxacc``, ``<split>/pxap``,
        as in a test run, plus ``<split>/resized_maps`` (maps not saved in the frame).
    """
    if not cfg.get("metadata_dir"):
        raise ValueError("cams_dir needs metadata_dir=<folder with the split's metadata files>")
    cams_dir, metadata_dir = Path(cfg.cams_dir), Path(cfg.metadata_dir)
    if not cams_dir.is_dir():
        raise FileNotFoundError(f"cams_dir: folder not found: {cams_dir}")
    split = read_split(
        metadata_dir,
        data_root=metadata_dir,
        mask_root=cfg.get("mask_root") or metadata_dir,
        check_files=False,
        require_localization=True,
    )
    if len(split) == 0:
        raise ValueError(f"{metadata_dir}: the split has no images")
    frame = (int(cfg.frame_size), int(cfg.frame_size))
    interval, ious = float(cfg.eval.cam_curve_interval), tuple(cfg.eval.iou_thresholds)
    v2 = MaxBoxAcc(iou_thresholds=ious, cam_curve_interval=interval, multi_contour=True)
    v1 = MaxBoxAcc(iou_thresholds=(50,), cam_curve_interval=interval, multi_contour=False)
    pxap = PxAP(cam_curve_interval=interval)
    with_boxes, with_masks = split.has_boxes, split.has_masks
    resized = 0
    batch: list[tuple] = []

    def flush() -> None:
        maps = torch.stack([item[0] for item in batch])
        if with_boxes:
            boxes = [item[1] for item in batch]
            v2.update(maps, boxes)
            v1.update(maps, boxes)
        if with_masks:
            pxap.update(maps, torch.stack([item[2] for item in batch]))
        batch.clear()

    for record in tqdm(split.records, desc=f"scoring {cams_dir}", unit="map"):
        scoremap, was_resized = load_saved_map(cams_dir, record.image_id, frame)
        resized += int(was_resized)
        if batch and batch[0][0].dtype != scoremap.dtype:
            flush()  # float32 and float64 maps quantize differently: never mix them
        batch.append(
            (
                scoremap,
                gt_boxes_in_frame(record, frame) if with_boxes else None,
                gt_mask_in_frame(record, frame, check_size=True) if with_masks else None,
            )
        )
        if len(batch) == BATCH_SIZE:
            flush()
    if batch:
        flush()
    if resized:
        log.warning(
            "%d of %d score maps were not %dx%d and were resized (bicubic + min-max)",
            resized,
            len(split),
            *frame,
        )
    name = cfg.get("split") or "test"
    metrics: dict[str, float] = {f"{name}/resized_maps": float(resized)}
    curves: dict = {}
    if with_boxes:
        result = v2.compute()
        metrics[f"{name}/maxboxaccv2"] = float(result["value"])
        for iou, value in zip(ious, result["per_iou"].tolist(), strict=True):
            metrics[f"{name}/maxboxaccv2_iou{iou}"] = float(value)
        result_v1 = v1.compute()
        metrics[f"{name}/maxboxacc"] = float(result_v1["value"])
        curves.update(
            thresholds=result["thresholds"],
            box_acc_v2=result["curve"],
            box_acc_v1=result_v1["curve"],
        )
    if with_masks:
        result = pxap.compute()
        metrics[f"{name}/pxap"] = float(result["value"])
        curves.update(
            thresholds=result["thresholds"], precision=result["precision"], recall=result["recall"]
        )
    scalars = {"pxap": metrics.get(f"{name}/pxap")}
    save_curve_figures(curves, cfg.paths.output_dir, ious, scalars=scalars, stage=name)
    return metrics


__all__ = ["score_cams_dir"]
