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

from wsol.cams.saved import check_flat_layout, load_saved_map, unmatched_maps
from wsol.data.dataset import gt_boxes_in_frame, gt_mask_in_frame
from wsol.data.formats.wsoleval import read_split
from wsol.metrics import MaxBoxAcc, PxAP, result_keys
from wsol.metrics.keys import named_results
from wsol.viz.curves import save_curve_figures

log = logging.getLogger("wsol")

# Maps scored per metric update.
BATCH_SIZE = 64


def score_cams_dir(cfg: DictConfig) -> dict[str, float]:
    """``wsol-eval cams_dir=DIR metadata_dir=DIR [mask_root=DIR] [split=NAME] [eval.*]``.

    Also writes the curves as ``<split>_box_accuracy.png`` / ``<split>_precision_recall.png``
    into ``paths.output_dir`` (next to metrics.json).

    Returns:
        Metrics keyed as in a test run (`wsol.metrics.result_keys`): ``<split>/maxboxaccv2``,
        ``<split>/maxboxaccv2_iou<d>``, ``<split>/maxboxacc``, ``<split>/best_threshold_v1``,
        ``<split>/pxap``, plus ``<split>/resized_maps`` (maps not saved in the frame) and
        ``<split>/invalid_cams`` (constant maps, scored as zeros, as a test run counts them).
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
    check_flat_layout(cams_dir, [record.image_id for record in split.records])
    unmatched = unmatched_maps(cams_dir, [record.image_id for record in split.records])
    if unmatched:
        log.warning(
            "%d .npy file(s) in %s have no line in the metadata and are not scored (first: %s)",
            len(unmatched),
            cams_dir,
            unmatched[0],
        )
    frame = (int(cfg.frame_size), int(cfg.frame_size))
    interval, ious = float(cfg.eval.cam_curve_interval), tuple(cfg.eval.iou_thresholds)
    v2 = MaxBoxAcc(iou_thresholds=ious, cam_curve_interval=interval, multi_contour=True)
    v1 = MaxBoxAcc(iou_thresholds=(50,), cam_curve_interval=interval, multi_contour=False)
    pxap = PxAP(cam_curve_interval=interval)
    with_boxes, with_masks = split.has_boxes, split.has_masks
    resized = invalid = 0
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
        scoremap, was_resized, was_invalid = load_saved_map(cams_dir, record.image_id, frame)
        resized, invalid = resized + int(was_resized), invalid + int(was_invalid)
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
    if invalid:
        log.warning(
            "%d of %d score maps were constant (e.g. 1x1): scored as zeros, counted in "
            "invalid_cams",
            invalid,
            len(split),
        )
    name = cfg.get("split") or "test"
    results: dict = {"resized_maps": float(resized), "invalid_cams": float(invalid)}
    curves: dict = {}
    if with_boxes:
        result, result_v1 = v2.compute(), v1.compute()
        results.update(named_results(ious, v2=result, v1=result_v1))
        curves.update(
            thresholds=result["thresholds"],
            box_acc_v2=result["curve"],
            box_acc_v1=result_v1["curve"],
        )
    if with_masks:
        result = pxap.compute()
        results.update(named_results(pxap=result))
        curves.update(
            thresholds=result["thresholds"], precision=result["precision"], recall=result["recall"]
        )
    metrics = result_keys(name, results)
    scalars = {"pxap": results.get("pxap")}
    save_curve_figures(curves, cfg.paths.output_dir, ious, scalars=scalars, stage=name)
    return metrics


__all__ = ["score_cams_dir"]
