"""Writes what ``wsol-predict`` outputs, from one process or many.

Each process writes the records of its own images, batch by batch, to part files
(``predictions.rank<r>.part.jsonl``, ``failures.rank<r>.part.jsonl``) and their overlay PNGs.
When prediction ends, rank 0 merges the parts of every rank into ``predictions.jsonl`` and
``failures.jsonl`` in input order (the index of the file in the sorted input list), so the
files do not depend on the number of processes, and removes the parts. Every rank then reads
the merged files back into :attr:`PredictionWriter.summary`.

A record: ``image``, ``width``, ``height`` (original pixels), ``top_k`` (class id, name and
probability, best first), the box settings (``threshold``, ``multi_contour``, ``frame``),
then the top-1 class (``class_id``, ``class_name``, ``probability``), ``cam_valid`` (False for
a constant or non-finite map, which has no boxes), ``boxes`` (inclusive xyxy, original
pixels), ``boxes_frame`` (the same boxes in the evaluation frame), ``extra_maps`` when the
method declares more maps (caption → ``cam_valid``, ``boxes``, ``boxes_frame`` of that map of
the top-1 class, same threshold and contour mode) and ``overlay`` (its path relative to the
output folder) when overlays are written.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from PIL import Image

from wsol.cams.boxes import boxes_to_original, cam_boxes
from wsol.cams.pipeline import scoremaps
from wsol.viz.colormap import colormap_lut
from wsol.viz.overlay import annotate
from wsol.viz.panel import class_name

log = logging.getLogger("wsol")

_KINDS = ("predictions", "failures")


@dataclass
class PredictSummary:
    """What a prediction run did (over all processes).

    Attributes:
        output_dir: the folder of predictions.jsonl, failures.jsonl and overlays/.
        predicted: number of images predicted.
        failed: (path, reason) of every file that could not be used, in input order.
    """

    output_dir: Path
    predicted: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)


class PredictionWriter(BasePredictionWriter):
    """Turns ``WSOLLitModule.predict_step`` outputs into records, overlays and failures.

    Args:
        output_dir: folder of the outputs (created).
        root: folder the overlays' relative names start from (the input folder).
        settings: ``threshold`` (CAM threshold in [0, 1)), ``multi_contour`` (bool) and
            ``frame`` ([S, S], the evaluation frame), copied into every record.
        top_k: number of classes listed per image.
        class_names: names by class id, or None (``class <id>``).
        overlays: write ``overlays/<relative path>.png`` (heatmap and boxes, original size).
        colormap: matplotlib colormap of the heatmap.
        alpha: heatmap weight over the image.
    """

    def __init__(
        self,
        output_dir: str | Path,
        root: str | Path,
        settings: dict[str, Any],
        top_k: int = 5,
        class_names: list[str] | None = None,
        overlays: bool = True,
        colormap: str = "inferno",
        alpha: float = 0.5,
    ) -> None:
        super().__init__(write_interval="batch")
        self.output_dir = Path(output_dir)
        self.root = Path(root).absolute()
        self.settings = dict(settings)
        self.top_k, self.class_names = int(top_k), class_names
        self.overlays, self.alpha = bool(overlays), float(alpha)
        self.lut = colormap_lut(colormap)
        self.summary = PredictSummary(output_dir=self.output_dir)
        self._parts: dict[str, Any] = {}

    def _part(self, kind: str, rank: int) -> Path:
        return self.output_dir / f"{kind}.rank{rank}.part.jsonl"

    def on_predict_start(self, trainer, pl_module) -> None:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        rank = trainer.global_rank
        self._parts = {kind: open(self._part(kind, rank), "w") for kind in _KINDS}

    def write_on_batch_end(
        self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx=0
    ) -> None:
        for index, (path, reason) in zip(batch["failed_indices"], batch["failed"], strict=True):
            log.error("Skipped unreadable image %s: %s", path, reason)
            self._write("failures", index, {"image": path, "error": reason})
        if prediction is None:
            return
        probabilities = prediction["probabilities"].float().cpu()
        frame_maps = prediction["scoremaps"].cpu()
        valid = ~prediction["invalid"].cpu()
        extra_maps = {c: maps.cpu() for c, maps in prediction.get("extra_scoremaps", {}).items()}
        extra_valid = {c: ~flags.cpu() for c, flags in prediction.get("extra_invalid", {}).items()}
        for n, (index, path) in enumerate(zip(batch["indices"], batch["paths"], strict=True)):
            height, width = batch["sizes"][n]
            record = {
                "image": path,
                "width": int(width),
                "height": int(height),
                "top_k": self._top_k(probabilities[n]),
                **self.settings,
            }
            self._complete(record, frame_maps[n], bool(valid[n]))
            if extra_maps:
                record["extra_maps"] = {
                    caption: self._boxes(record, maps[n], bool(extra_valid[caption][n]))
                    for caption, maps in extra_maps.items()
                }
            if self.overlays:
                cam = prediction["cams"][n : n + 1]
                record["overlay"] = self._overlay(record, batch["originals"][n], cam)
            self._write("predictions", index, record)

    def _write(self, kind: str, index: int, record: dict) -> None:
        self._parts[kind].write(json.dumps({"index": int(index), "record": record}) + "\n")

    def _top_k(self, probabilities: torch.Tensor) -> list[dict]:
        """The most probable classes of one image: id, name and probability, best first."""
        top = probabilities.topk(min(self.top_k, probabilities.shape[0]))
        return [
            {
                "class_id": int(c),
                "class_name": class_name(int(c), self.class_names),
                "probability": float(p),
            }
            for p, c in zip(top.values, top.indices, strict=True)
        ]

    def _complete(self, record: dict, frame_map: torch.Tensor, valid: bool) -> None:
        """Add the top-1 class and its boxes (none for an invalid map) to ``record``."""
        best = record["top_k"][0]
        record.update(
            class_id=best["class_id"],
            class_name=best["class_name"],
            probability=best["probability"],
            **self._boxes(record, frame_map, valid),
        )

    def _boxes(self, record: dict, frame_map: torch.Tensor, valid: bool) -> dict:
        """``cam_valid``, ``boxes`` (original pixels) and ``boxes_frame`` of one score map at
        the record's threshold and contour mode (no boxes for an invalid map)."""
        frame_boxes = torch.zeros((0, 4), dtype=torch.int64)
        if valid:
            frame_boxes = cam_boxes(frame_map, record["threshold"], record["multi_contour"])
        size = (record["height"], record["width"])
        boxes = boxes_to_original(frame_boxes, frame_map.shape, size)
        return {"cam_valid": valid, "boxes": boxes.tolist(), "boxes_frame": frame_boxes.tolist()}

    def _overlay(self, record: dict, original: np.ndarray, cam: torch.Tensor) -> str:
        """Save the heatmap (the top class's CAM as a score map at the image's own size) with
        the boxes; returns its path relative to the output folder."""
        heat, _ = scoremaps(cam, (record["height"], record["width"]))
        label = f"{record['class_name']} {record['probability']:.0%}"
        boxes = torch.tensor(record["boxes"], dtype=torch.int64).reshape(-1, 4)
        image = annotate(
            torch.from_numpy(original),
            heat[0].float().cpu(),
            self.lut,
            pred_boxes=boxes,
            alpha=self.alpha,
            pred_labels=[label] * len(boxes),
        )
        name = Path(record["image"]).absolute().relative_to(self.root)
        path = self.output_dir / "overlays" / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.ascontiguousarray(image.permute(1, 2, 0).numpy())).save(path)
        return str(path.relative_to(self.output_dir))

    def on_predict_end(self, trainer, pl_module) -> None:
        for part in self._parts.values():
            part.close()
        trainer.strategy.barrier("wsol_predict_parts_written")
        if trainer.is_global_zero:
            for kind in _KINDS:
                self._merge(kind, trainer.world_size)
        trainer.strategy.barrier("wsol_predict_merged")
        self._read_summary()

    def _merge(self, kind: str, world_size: int) -> None:
        """Records of every rank's part file in input order → ``<kind>.jsonl``."""
        entries = []
        for rank in range(world_size):
            part = self._part(kind, rank)
            entries += [json.loads(line) for line in part.read_text().splitlines()]
        entries.sort(key=lambda entry: entry["index"])
        with open(self.output_dir / f"{kind}.jsonl", "w") as merged:
            merged.writelines(json.dumps(entry["record"]) + "\n" for entry in entries)
        for rank in range(world_size):
            self._part(kind, rank).unlink()

    def _read_summary(self) -> None:
        def records(kind: str) -> list[dict]:
            text = (self.output_dir / f"{kind}.jsonl").read_text()
            return [json.loads(line) for line in text.splitlines()]

        self.summary.predicted = len(records("predictions"))
        self.summary.failed = [(r["image"], r["error"]) for r in records("failures")]
