"""wsol-predict: top-k classes, boxes and heatmap overlays for new images.

The network and its evaluation transform (eval_size, mean, std) are rebuilt from the checkpoint
alone (``weights_only=True``). Each image is decoded to RGB (:mod:`wsol.data.decode`), resized
to the evaluation frame like a test image, and the CAM of its top-1 class goes through the
protocol's score-map and box extraction at the CAM threshold chosen on validation (stored in
the checkpoint) or ``threshold=``. Boxes are computed in the evaluation frame and mapped back
to original pixels by :func:`wsol.cams.boxes.boxes_to_original`.

Outputs in ``output``: ``predictions.jsonl`` (one JSON object per readable image, in input
order), ``overlays/<relative path>.png`` (heatmap and boxes at the original resolution),
``failures.jsonl`` (unreadable files and why). Unreadable files are logged and skipped; the
command then exits with status 1 (see ``wsol.cli.predict``).
"""

from __future__ import annotations

import inspect
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from PIL import Image
from torch.utils.data import DataLoader
from tqdm import tqdm

from wsol.cams.boxes import boxes_to_original, cam_boxes
from wsol.cams.normalize import scoremaps_from_cams
from wsol.data.datamodule import WSOLDataModule
from wsol.data.image_files import ImageFiles, collate_image_files, list_images
from wsol.data.transforms import eval_transform
from wsol.utils.checkpoint import module_from_checkpoint
from wsol.utils.run import apply_extras
from wsol.viz.colormap import colormap_lut
from wsol.viz.overlay import annotate
from wsol.viz.panel import class_name

log = logging.getLogger("wsol")


@dataclass
class PredictSummary:
    """What a prediction run did.

    Attributes:
        output_dir: the folder of predictions.jsonl, failures.jsonl and overlays/.
        predicted: number of images predicted.
        failed: (path, reason) of every file that could not be used.
    """

    output_dir: Path
    predicted: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)


def predict(cfg: DictConfig) -> PredictSummary:
    """Predict every image of ``cfg.input`` with the checkpoint ``cfg.ckpt_path``."""
    apply_extras(cfg)
    module, stored = module_from_checkpoint(cfg.ckpt_path)
    device = _device(str(cfg.get("device", "auto")))
    module.to(device)
    size, mean, std = _eval_settings(stored.get("data") or {})
    threshold = _threshold(cfg.get("threshold"), module, cfg.ckpt_path)
    multi = cfg.get("multi_contour")
    multi = bool(module.hparams.loc_multi_contour if multi is None else multi)
    class_names = stored.get("class_names") or (stored.get("data") or {}).get("class_names")
    top_k = int(cfg.get("top_k", 5))
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")

    files, root = list_images(cfg.input, bool(cfg.get("recursive", False)))
    loader = DataLoader(
        ImageFiles(files, eval_transform(size, mean, std)),
        batch_size=int(cfg.get("batch_size", 32)),
        num_workers=int(cfg.get("num_workers", 0)),
        collate_fn=collate_image_files,
    )
    writer = _Writer(
        Path(cfg.output),
        root,
        colormap_lut(str(cfg.get("colormap", "inferno"))),
        float(cfg.get("alpha", 0.5)),
        bool(cfg.get("overlays", True)),
    )
    summary = PredictSummary(output_dir=writer.out_dir)
    log.info(
        "Predicting %d file(s) from %s: frame %dx%d, CAM threshold %.3f (%s contour), top-%d",
        len(files),
        cfg.input,
        size,
        size,
        threshold,
        "every" if multi else "largest",
        top_k,
    )
    settings = {"threshold": threshold, "multi_contour": multi, "frame": [size, size]}
    with writer, tqdm(total=len(files), desc="predicting", unit="img") as bar:
        for batch in loader:
            for path, reason in batch["failed"]:
                log.error("Skipped unreadable image %s: %s", path, reason)
                writer.failure(path, reason)
                summary.failed.append((path, reason))
            if batch["images"] is not None:
                with torch.inference_mode():
                    out = module.predict_step({"images": batch["images"].to(device)}, 0)
                scoremaps, invalid = scoremaps_from_cams(out["cams"], (size, size))
                probabilities = out["probabilities"].float().cpu()
                for n, path in enumerate(batch["paths"]):
                    record = {
                        "image": path,
                        "width": int(batch["sizes"][n][1]),
                        "height": int(batch["sizes"][n][0]),
                        "top_k": _top_k(probabilities[n], top_k, class_names),
                        **settings,
                    }
                    writer.prediction(
                        record, batch["originals"][n], scoremaps[n].cpu(), not bool(invalid[n])
                    )
                    summary.predicted += 1
            bar.update(len(batch["paths"]) + len(batch["failed"]))
    _report(summary)
    return summary


class _Writer:
    """Writes predictions.jsonl, failures.jsonl and the overlays of one run."""

    def __init__(self, out_dir: Path, root: Path, lut, alpha: float, overlays: bool) -> None:
        self.out_dir = out_dir
        self.root = root.absolute()
        self.lut, self.alpha, self.overlays = lut, alpha, overlays
        out_dir.mkdir(parents=True, exist_ok=True)

    def __enter__(self) -> _Writer:
        self.predictions = open(self.out_dir / "predictions.jsonl", "w")
        self.failures = open(self.out_dir / "failures.jsonl", "w")
        return self

    def __exit__(self, *exc) -> None:
        self.predictions.close()
        self.failures.close()

    def failure(self, path: str, reason: str) -> None:
        self.failures.write(json.dumps({"image": path, "error": reason}) + "\n")
        self.failures.flush()

    def prediction(self, record: dict, original: torch.Tensor, scoremap, valid: bool) -> None:
        """Complete ``record`` with the top class's boxes, write it and its overlay.

        Args:
            record: image, size, top_k and settings (threshold, multi_contour, frame).
            original: uint8 [3, H, W] decoded image.
            scoremap: [S, S] float64 in [0, 1], top-1 class, evaluation frame.
            valid: False when the CAM was constant (no boxes then).
        """
        height, width = original.shape[-2:]
        best = record["top_k"][0]
        frame_boxes = torch.zeros((0, 4), dtype=torch.int64)
        if valid:
            frame_boxes = cam_boxes(scoremap, record["threshold"], record["multi_contour"])
        boxes = boxes_to_original(frame_boxes, scoremap.shape, (height, width))
        record.update(
            class_id=best["class_id"],
            class_name=best["class_name"],
            probability=best["probability"],
            cam_valid=valid,
            boxes=boxes.tolist(),
            boxes_frame=frame_boxes.tolist(),
        )
        if self.overlays:
            record["overlay"] = self._overlay(record, original, scoremap, boxes)
        self.predictions.write(json.dumps(record) + "\n")
        self.predictions.flush()

    def _overlay(self, record: dict, original, scoremap, boxes) -> str:
        height, width = original.shape[-2:]
        upsampled = F.interpolate(
            scoremap.float()[None, None], size=(height, width), mode="bilinear"
        )[0, 0].clamp(0, 1)
        label = f"{record['class_name']} {record['probability']:.0%}"
        image = annotate(
            original,
            upsampled,
            self.lut,
            pred_boxes=boxes,
            alpha=self.alpha,
            pred_labels=[label] * len(boxes),
        )
        name = Path(record["image"]).absolute().relative_to(self.root)
        path = self.out_dir / "overlays" / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.ascontiguousarray(image.permute(1, 2, 0).numpy())).save(path)
        return str(path.relative_to(self.out_dir))


def _top_k(probabilities: torch.Tensor, k: int, class_names) -> list[dict]:
    """The k most probable classes of one image: id, name and probability, best first."""
    top = probabilities.topk(min(k, probabilities.shape[0]))
    return [
        {"class_id": int(c), "class_name": class_name(int(c), class_names), "probability": float(p)}
        for p, c in zip(top.values, top.indices, strict=True)
    ]


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"device: not a torch device: {name!r}") from error


def _eval_settings(data: dict) -> tuple[int, list[float], list[float]]:
    """eval_size, mean, std of the stored data config (the data module's defaults if absent)."""
    defaults = inspect.signature(WSOLDataModule).parameters
    values = [
        data[key] if data.get(key) is not None else defaults[key].default
        for key in ("eval_size", "mean", "std")
    ]
    return int(values[0]), [float(v) for v in values[1]], [float(v) for v in values[2]]


def _threshold(value, module, ckpt_path: str) -> float:
    if value is None:
        value = float(module.loc_threshold)
        if math.isnan(value):
            raise ValueError(
                f"{ckpt_path}: the checkpoint has no CAM threshold chosen on validation "
                "(loc_threshold); pass threshold=<value in [0, 1)>"
            )
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"threshold must be in [0, 1), got {value}")
    return value


def _report(summary: PredictSummary) -> None:
    total = summary.predicted + len(summary.failed)
    log.info("Predicted %d of %d image(s): %s", summary.predicted, total, summary.output_dir)
    if summary.failed:
        lines = "\n".join(f"  {path}: {reason}" for path, reason in summary.failed)
        log.error(
            "%d image(s) could not be read (listed in %s):\n%s",
            len(summary.failed),
            summary.output_dir / "failures.jsonl",
            lines,
        )
