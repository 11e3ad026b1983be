"""wsol-predict: top-k classes, boxes and heatmap overlays for new images.

The network and its evaluation transform (eval_size, mean, std) are rebuilt from the checkpoint
alone (``weights_only=True``). Each image is decoded to RGB (:mod:`wsol.data.decode`) and
resized to the evaluation frame like a test image; ``Trainer.predict`` runs
``WSOLLitModule.predict_step`` on batches (any accelerator, one process or DDP), which takes
the top-1 class's CAM through the protocol's pipeline (:func:`wsol.cams.pipeline.scoremaps`).
:class:`wsol.callbacks.prediction_writer.PredictionWriter` extracts the boxes at the CAM
threshold chosen on validation (stored in the checkpoint) or ``threshold=``, in the evaluation
frame, and maps them back to original pixels (:func:`wsol.cams.boxes.boxes_to_original`).

Outputs in ``output``: ``predictions.jsonl`` (one JSON object per readable image, in input
order whatever the number of processes), ``overlays/<relative path>.png`` (heatmap and boxes at
the original resolution), ``failures.jsonl`` (unreadable files and why). Unreadable files are
logged and skipped; the command then exits with status 1 (see ``wsol.cli.predict``).
"""

from __future__ import annotations

import inspect
import logging
import math
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

from lightning.pytorch import LightningDataModule
from lightning.pytorch.utilities import rank_zero_info
from omegaconf import DictConfig
from torch.utils.data import DataLoader, Sampler

from wsol.callbacks.prediction_writer import PredictionWriter, PredictSummary
from wsol.checkpoints.load import module_from_checkpoint
from wsol.data.datamodule import WSOLDataModule
from wsol.data.image_files import ImageFiles, collate_image_files, list_images
from wsol.data.samplers import distributed_world
from wsol.data.transforms import eval_transform
from wsol.tasks.common import build_trainer
from wsol.tasks.run_outputs import apply_extras

log = logging.getLogger("wsol")

__all__ = ["PredictSummary", "predict"]


def predict(cfg: DictConfig) -> PredictSummary:
    """Predict every image of ``cfg.input`` with the checkpoint ``cfg.ckpt_path``.

    Runs ``Trainer.predict`` with the ``trainer`` config; under DDP each process predicts
    every world-size-th batch (no file twice) and rank 0 merges the outputs in input order.

    Returns:
        the summary of all processes (the same on every rank).
    """
    apply_extras(cfg)
    module, stored = module_from_checkpoint(cfg.ckpt_path)
    size, mean, std = _eval_settings(stored.get("data") or {})
    threshold = _threshold(cfg.get("threshold"), module, cfg.ckpt_path)
    multi = cfg.get("multi_contour")
    multi = bool(module.protocol.loc_multi_contour if multi is None else multi)
    top_k = int(cfg.get("top_k", 5))
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")

    output = prepare_output(Path(cfg.output), bool(cfg.get("overwrite", False)))
    # The output folder is never read back as input (an output inside a recursive input).
    files, root = list_images(cfg.input, bool(cfg.get("recursive", False)), exclude=output)
    writer = PredictionWriter(
        output_dir=cfg.output,
        root=root,
        settings={"threshold": threshold, "multi_contour": multi, "frame": [size, size]},
        top_k=top_k,
        class_names=stored.get("class_names") or (stored.get("data") or {}).get("class_names"),
        overlays=bool(cfg.get("overlays", True)),
        colormap=str(cfg.get("colormap", "inferno")),
        alpha=float(cfg.get("alpha", 0.5)),
    )
    data = ImageFilesData(
        ImageFiles(files, eval_transform(size, mean, std)),
        batch_size=int(cfg.get("batch_size", 32)),
        num_workers=int(cfg.get("num_workers", 0)),
    )
    rank_zero_info(
        f"Predicting {len(files)} file(s) from {cfg.input}: frame {size}x{size}, CAM threshold "
        f"{threshold:.3f} ({'every' if multi else 'largest'} contour), top-{top_k}"
    )
    trainer = build_trainer(cfg, with_callbacks=False, extra_callbacks=[writer])
    with warnings.catch_warnings():
        # ShardedBatches returns every file (tested); Lightning cannot know and says so.
        warnings.filterwarnings("ignore", message="You are using a custom batch sampler")
        trainer.predict(module, datamodule=data, return_predictions=False)
    if trainer.is_global_zero:
        _report(writer.summary)
    return writer.summary


# What wsol-predict writes into its output folder (all that overwrite=true replaces).
OUTPUTS = ("predictions.jsonl", "failures.jsonl", "overlays")


def prepare_output(output: Path, overwrite: bool) -> Path:
    """The output folder, refused when it holds anything unless ``overwrite``; with
    ``overwrite`` the previous predictions (:data:`OUTPUTS`) are removed first, so old and new
    overlays never mix. Other files are left alone."""
    if output.exists() and not output.is_dir():
        raise ValueError(f"output={output}: not a folder")
    entries = sorted(p.name for p in output.iterdir()) if output.is_dir() else []
    if entries and not overwrite:
        shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
        raise ValueError(
            f"output={output}: folder is not empty ({shown}); give another output, or "
            "overwrite=true to replace the predictions in it"
        )
    if overwrite and distributed_world()[0] == 0:
        for name in OUTPUTS:
            target = output / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    return output


class ImageFilesData(LightningDataModule):
    """The predict loader of an :class:`ImageFiles` set, built once the processes exist.

    The files are cut into the batches one process would run, and under DDP each rank takes
    every world-size-th batch (:class:`ShardedBatches`); the rank is only known once the
    Trainer has set up the process group, hence a data module rather than a ready loader.
    """

    def __init__(self, files: ImageFiles, batch_size: int, num_workers: int) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.files, self.batch_size, self.num_workers = files, batch_size, num_workers

    def predict_dataloader(self) -> DataLoader:
        return DataLoader(
            self.files,
            batch_sampler=ShardedBatches(len(self.files), self.batch_size),
            num_workers=self.num_workers,
            collate_fn=collate_for_writer,
        )


class ShardedBatches(Sampler[list[int]]):
    """This rank's share of the batches ``[0, B), [B, 2B), ...`` of ``range(count)``.

    Rank r takes batches r, r + world, r + 2 * world, ...: every file once, no padding, and
    each image is predicted in the same batch as with one process. The network's numbers then
    do not depend on the number of processes (a convolution's float rounding can depend on
    the batch it runs in), so the records are identical, not merely close.

    Args:
        count: number of files.
        size: files per batch.
        num_replicas, rank: the world size and this rank (default: the process group's).
    """

    def __init__(
        self, count: int, size: int, num_replicas: int | None = None, rank: int | None = None
    ) -> None:
        group_rank, group_world = distributed_world()
        world = group_world if num_replicas is None else num_replicas
        rank = group_rank if rank is None else rank
        starts = range(0, count, size)[rank::world]
        self.batches = [list(range(start, min(start + size, count))) for start in starts]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def collate_for_writer(samples: list[dict]) -> dict:
    """:func:`collate_image_files` plus ``failed_indices`` (input positions of the failed
    files, to merge them in input order); originals as numpy arrays, which the Trainer leaves
    on the host when it moves the batch to the accelerator."""
    batch = collate_image_files(samples)
    batch["failed_indices"] = [s["index"] for s in samples if "error" in s]
    batch["originals"] = [original.numpy() for original in batch["originals"]]
    return batch


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
