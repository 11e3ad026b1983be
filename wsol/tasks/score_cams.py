"""Score a directory of saved score maps against a wsolevaluation-format split.

Numbers from other code bases are re-scored with exactly the protocol of wsol's own test runs,
by the same evaluation entry and metric collection (`wsol.evaluation.loop.evaluate` with
`wsol.evaluation.evaluators.ProtocolMetrics`, one contour sweep per map): MaxBoxAccV2,
MaxBoxAcc (V1) and GT-known loc where the split has boxes, PxAP where it has masks. The maps are
the GT class's, and no labels or logits are needed: the class-dependent numbers (top-1 loc,
accuracy) are not reported. Only metadata is needed (image sizes from image_sizes.txt), not the
images.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from wsol.cams.saved import check_flat_layout, load_saved_map, unmatched_maps
from wsol.data.dataset import gt_boxes_in_frame, gt_mask_in_frame
from wsol.data.formats.wsoleval import read_split
from wsol.evaluation.evaluators import ProtocolMetrics
from wsol.evaluation.loop import evaluate
from wsol.evaluation.protocol import Protocol
from wsol.metrics import result_keys
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
        ``<split>/gt_known_loc``, ``<split>/loc_threshold`` (box splits), ``<split>/pxap`` (mask
        splits), ``<split>/invalid_cams`` (constant maps, e.g. 1x1, scored as zeros, as a test
        run counts them), plus ``<split>/resized_maps`` (maps not saved in the frame).
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
    protocol = Protocol.from_dict(OmegaConf.to_container(cfg.eval, resolve=True), where="eval")
    with_boxes, with_masks = split.has_boxes, split.has_masks
    metrics = ProtocolMetrics(protocol, with_masks=with_masks, with_labels=False)
    resized = [0]
    batches = saved_map_batches(cams_dir, split.records, frame, with_boxes, with_masks, resized)
    values = evaluate(batches, {"metrics": metrics}, desc=f"scoring {cams_dir}")["metrics"]
    if resized[0]:
        log.warning(
            "%d of %d score maps were not %dx%d and were resized (bicubic + min-max)",
            resized[0],
            len(split),
            *frame,
        )
    if values.get("invalid_cams"):
        log.warning(
            "%d of %d score maps were constant (e.g. 1x1): scored as zeros, counted in "
            "invalid_cams",
            int(values["invalid_cams"]),
            len(split),
        )
    name = cfg.get("split") or "test"
    metrics = result_keys(name, {**values, "resized_maps": float(resized[0])})
    save_curve_figures(
        values["curves"], cfg.paths.output_dir, protocol.iou_thresholds, scalars=values, stage=name
    )
    return metrics


def saved_map_batches(
    cams_dir: Path,
    records,
    frame: tuple[int, int],
    with_boxes: bool,
    with_masks: bool,
    resized: list[int],
) -> Iterator[dict]:
    """Batches of saved score maps with their targets in the frame, for `evaluate`.

    Maps of one batch share a dtype (float32 and float64 maps quantize differently: never
    mixed). ``resized[0]`` counts the maps that were not saved in the frame; a constant map is
    scored as zeros and flagged in ``invalid`` (counted by the metrics as ``invalid_cams``).

    Yields:
        ``{"scoremaps": [B, H, W], "invalid": [B] bool, "gt_boxes": B tensors | None,
        "gt_masks": [B, H, W] | None}``.
    """
    batch: list[tuple] = []

    def pack() -> dict:
        out = {
            "scoremaps": torch.stack([item[0] for item in batch]),
            "invalid": torch.tensor([item[3] for item in batch], dtype=torch.bool),
            "gt_boxes": [item[1] for item in batch] if with_boxes else None,
            "gt_masks": torch.stack([item[2] for item in batch]) if with_masks else None,
        }
        batch.clear()
        return out

    for record in records:
        scoremap, was_resized, was_invalid = load_saved_map(cams_dir, record.image_id, frame)
        resized[0] += int(was_resized)
        if batch and batch[0][0].dtype != scoremap.dtype:
            yield pack()
        batch.append(
            (
                scoremap,
                gt_boxes_in_frame(record, frame) if with_boxes else None,
                gt_mask_in_frame(record, frame, check_size=True) if with_masks else None,
                was_invalid,
            )
        )
        if len(batch) == BATCH_SIZE:
            yield pack()
    if batch:
        yield pack()


__all__ = ["saved_map_batches", "score_cams_dir"]
