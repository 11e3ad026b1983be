"""The Lightning data module of every WSOL data set in the wsolevaluation metadata format.

Instantiated by Hydra with typed arguments only. Splits live in ``<metadata_root>/<split>/``.
An optional ``preparer`` (e.g. :class:`~wsol.data.synthetic.SyntheticPreparer`) generates the
data in ``prepare_data()`` (once per node); when the roots are left out, they are taken from
``preparer.roots()``, so a config names the generator's parameters once. A preparer with a
``prepare_split(name)`` method draws some splits only when they are first read (the synthetic
benchmark's probe splits).

The Trainer runs with ``use_distributed_sampler=False``: this module builds its samplers
(evaluation loaders never pad under DDP; see :mod:`wsol.data.samplers`).
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader

from wsol.configuration.validate import Interval
from wsol.data.collate import collate_wsol
from wsol.data.dataset import WSOLDataset, decoded_bytes
from wsol.data.formats.wsoleval import read_split
from wsol.data.records import SplitMetadata
from wsol.data.samplers import eval_sampler, train_sampler
from wsol.data.subsets import few_shot_subset, proxy_subset, split_summary
from wsol.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    eval_transform,
    split_per_pixel_tail,
    train_transform,
)

log = logging.getLogger("wsol")


def seed_worker(worker_id: int) -> None:
    """Seed numpy and ``random`` of a loader worker from its torch seed (set per worker)."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


class WSOLDataModule(LightningDataModule):
    """Loaders of the train / val / test splits (and any other split by name).

    Args:
        metadata_root: folder of the per-split metadata folders; None takes the preparer's.
        data_root: folder the image ids are relative to; None takes the preparer's.
        mask_root: folder mask paths are relative to (default: the preparer's, else data_root).
        num_classes: number of classes; labels are checked against it (default: the
            preparer's ``num_classes``, else the number of class names).
        class_names: optional names (default: the preparer's ``class_names`` if it has them,
            else the lines of ``<metadata_root>/class_names.txt``, which the converters write).
        train_split: training split (labels only; localization optional).
        val_split: validation split (fully annotated: model and CAM-threshold selection).
        test_split: test split (fully annotated).
        batch_size: training batch size.
        eval_batch_size: evaluation batch size.
        num_workers: loader worker processes (persistent when > 0).
        train_resize: side of the training square resize.
        train_crop: side of the training random crop.
        eval_size: side of the evaluation resize = the evaluation frame.
        mean: normalization mean of the [0, 1] image.
        std: normalization standard deviation.
        preparer: optional callable run by ``prepare_data()`` to produce the data; may offer
            ``roots()`` (metadata_root, data_root, mask_root), ``class_names`` and
            ``prepare_split(name)`` (called before a split is first read).
        seed: seed of the training shuffle and of the loader workers' base seeds.
        check_files: check every image and mask file exists when a split is read.
        pin_memory: pin host memory in the loaders; None: when a CUDA device is present.
        train_boxes: move the GT boxes through the training augmentation (batch key
            ``boxes``) for methods that use them; off by default (labels only, faster).
        train_masks: likewise decode the GT masks of mask data sets and move them with the
            training images (batch key ``masks``, 0/1 with 255 ignored); off by default.
        skip_bad_images: training only: an image that cannot be decoded is replaced by the
            next one and counted (logged once per epoch with the files) instead of stopping
            the run with an error naming the file (the default). Evaluation never skips.
        num_val_sample_per_class: keep only this many images per class of the validation split
            (the benchmark's few-shot search split); 0 keeps all (:mod:`wsol.data.subsets`).
        proxy_training_set: train on the ids of ``<train split>/image_ids_proxy.txt`` only.
        subset_seed: seed of the few-shot draw (fixed, so every run of a sweep sees one subset).
        cache_train_images: keep the decoded training images in memory across epochs (files
            are read and decoded in the first epoch only; the augmentation still runs on every
            sample, so batches are identical with and without it). None (default): on when the
            decoded split fits ``cache_memory_mb`` (sizes from image_sizes.txt; off when they
            are unknown); True / False force it.
        cache_memory_mb: memory budget of that cache in MiB, over all loader processes (each
            worker holds its own copy: the split's decoded size times the number of workers).

    Images are decoded (``torchvision.io.decode_image`` for JPEG) and resized as uint8 tensors
    in the loader's worker processes, which persist across epochs; they become normalized
    floats once per batch, in the collate function.
    """

    def __init__(
        self,
        metadata_root: str | None = None,
        data_root: str | None = None,
        mask_root: str | None = None,
        num_classes: int | None = None,
        class_names: Sequence[str] | None = None,
        train_split: str = "train",
        val_split: str = "val",
        test_split: str = "test",
        batch_size: int = 64,
        eval_batch_size: int = 64,
        num_workers: int = 0,
        train_resize: int = 256,
        train_crop: int = 224,
        eval_size: int = 224,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        preparer: Callable[[], None] | None = None,
        seed: int = 0,
        check_files: bool = True,
        pin_memory: bool | None = None,
        train_boxes: bool = False,
        train_masks: bool = False,
        skip_bad_images: bool = False,
        num_val_sample_per_class: int = 0,
        proxy_training_set: bool = False,
        subset_seed: int = 0,
        cache_train_images: bool | None = None,
        cache_memory_mb: Annotated[float, Interval(0)] = 1024,
    ) -> None:
        super().__init__()
        roots = preparer.roots() if hasattr(preparer, "roots") else (None, None, None)
        metadata_root = metadata_root if metadata_root is not None else roots[0]
        data_root = data_root if data_root is not None else roots[1]
        if metadata_root is None or data_root is None:
            raise ValueError(
                "data.metadata_root and data.data_root must be set (on the command line, or "
                "for data=cub/imagenet/openimages/folder under datasets.<name> in "
                "configs/local/default.yaml); "
                f"got metadata_root={metadata_root!r}, data_root={data_root!r}"
            )
        self.metadata_root = Path(metadata_root)
        self.data_root = Path(data_root)
        mask_root = mask_root if mask_root is not None else roots[2]
        self.mask_root = Path(mask_root) if mask_root is not None else None
        names_file, names_source = self.metadata_root / "class_names.txt", None
        if class_names is None:
            class_names = getattr(preparer, "class_names", None)
        if class_names is None and names_file.is_file():
            class_names = [n for n in names_file.read_text(encoding="utf-8").splitlines() if n]
            names_source = names_file
        if num_classes is None:
            num_classes = getattr(preparer, "num_classes", None)
        if num_classes is None and class_names is not None:
            num_classes = len(class_names)
        if num_classes is None:
            raise ValueError(
                f"data.num_classes must be set (no preparer provides it and {names_file} "
                "does not exist)"
            )
        if class_names is not None and len(class_names) != num_classes:
            source = "data.class_names" if names_source is None else str(names_source)
            raise ValueError(f"{source} has {len(class_names)} names but num_classes={num_classes}")
        self.num_classes = num_classes
        self.class_names = list(class_names) if class_names is not None else None
        self.train_split, self.val_split, self.test_split = train_split, val_split, test_split
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.num_workers, self.seed = num_workers, seed
        self.check_files = check_files
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else pin_memory
        self.train_boxes, self.skip_bad_images = train_boxes, skip_bad_images
        self.train_masks = bool(train_masks)
        # Training images skipped as unreadable: epoch -> errors (skip_bad_images only).
        self.skipped_images: dict[int, list[str]] = {}
        if num_val_sample_per_class < 0:
            raise ValueError(
                f"data.num_val_sample_per_class must be >= 0, got {num_val_sample_per_class}"
            )
        self.num_val_sample_per_class = int(num_val_sample_per_class)
        self.proxy_training_set = bool(proxy_training_set)
        self.subset_seed = int(subset_seed)
        if cache_memory_mb < 0:
            raise ValueError(f"data.cache_memory_mb must be >= 0, got {cache_memory_mb}")
        self.cache_train_images = cache_train_images
        self.cache_memory_mb = float(cache_memory_mb)
        self.preparer = preparer
        self.train_transform = train_transform(train_resize, train_crop, mean, std)
        self.eval_transform = eval_transform(eval_size, mean, std)
        # What the loaders run: per sample, then per batch (the same numbers as the whole
        # pipeline per sample, cheaper: split_per_pixel_tail).
        self._train_steps = split_per_pixel_tail(self.train_transform)
        self._eval_steps = split_per_pixel_tail(self.eval_transform)
        self.eval_size = eval_size
        # The input normalization, for code that shows the network's inputs as images.
        self.mean, self.std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
        self._splits: dict[str, SplitMetadata] = {}

    # ------------------------------------------------------------------ data
    def prepare_data(self) -> None:
        """Run the preparer (Lightning calls this on one process per node)."""
        if self.preparer is not None:
            self.preparer()

    @property
    def eval_frame(self) -> tuple[int, int]:
        """Evaluation frame (height, width): the size of eval images, maps and GT targets."""
        return (self.eval_size, self.eval_size)

    def split(self, name: str) -> SplitMetadata:
        """The records of split ``name`` (read and validated once, then cached)."""
        if name not in self._splits:
            if self.preparer is not None and hasattr(self.preparer, "is_complete"):
                if not self.preparer.is_complete():
                    raise RuntimeError(
                        f"split {name!r}: the preparer's data is not generated yet; "
                        "call prepare_data() first (Lightning does so before setup)"
                    )
            if hasattr(self.preparer, "prepare_split"):  # splits drawn on first use (probes)
                self.preparer.prepare_split(name)
            split = read_split(
                self.metadata_root / name,
                self.data_root,
                self.mask_root,
                num_classes=self.num_classes,
                require_localization=name != self.train_split,
                check_files=self.check_files,
                name=name,
            )
            if name == self.val_split and self.num_val_sample_per_class:
                split = few_shot_subset(split, self.num_val_sample_per_class, self.subset_seed)
            if name == self.train_split and self.proxy_training_set:
                split = proxy_subset(split)
            self._splits[name] = split
        return self._splits[name]

    def setup(self, stage: str | None = None) -> None:
        """Read the splits the stage needs (``fit``: train + val; ``validate``; ``test``)."""
        wanted = {
            "fit": (self.train_split, self.val_split),
            "validate": (self.val_split,),
            "test": (self.test_split,),
            "predict": (self.test_split,),
        }.get(stage, (self.train_split, self.val_split, self.test_split))
        for name in wanted:
            self.split(name)

    def split_counts(self) -> dict[str, float]:
        """Classes and images of the train and val splits as read (few-shot / proxy subsets
        included): ``data/train_classes``, ``data/train_images``, ``data/val_...``."""
        counts: dict[str, float] = {}
        for key, name in (("train", self.train_split), ("val", self.val_split)):
            counts.update(split_summary(self.split(name), key))
        return counts

    def has_masks(self, split: str) -> bool:
        """Whether ``split`` has mask annotations (then PxAP is computed on it)."""
        return self.split(split).has_masks

    # ------------------------------------------------------------------ loaders
    def _loader(self, dataset: WSOLDataset, batch_size: int, sampler, drop_last: bool, per_batch):
        """A loader of ``dataset``; ``per_batch`` (the per-pixel tail of its pipeline) runs once
        per batch, in the collate function."""
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            shuffle=False,
            num_workers=self.num_workers,
            collate_fn=partial(collate_wsol, image_transform=per_batch),
            pin_memory=self.pin_memory,
            drop_last=drop_last,
            persistent_workers=self.num_workers > 0,
            worker_init_fn=seed_worker if self.num_workers > 0 else None,
            generator=torch.Generator().manual_seed(self.seed),
        )

    def train_dataloader(self) -> DataLoader:
        """Shuffled, augmented training batches (no eval targets); last batch kept."""
        per_sample, per_batch = self._train_steps
        dataset = WSOLDataset(
            self.split(self.train_split),
            per_sample,
            with_boxes=self.train_boxes,
            load_masks=self.train_masks,
            skip_bad_images=self.skip_bad_images,
            cache_images=self.caches_train_images(),
        )
        sampler = train_sampler(dataset, self.seed)
        return self._loader(dataset, self.batch_size, sampler, False, per_batch)

    def caches_train_images(self) -> bool:
        """Whether the training loader keeps its decoded images in memory (``cache_train_images``;
        when None, whether the decoded split fits ``cache_memory_mb`` in every loader process)."""
        if self.cache_train_images is not None:
            return bool(self.cache_train_images)
        size = decoded_bytes(self.split(self.train_split).records)
        if size is None:
            return False
        total = size * max(1, self.num_workers)
        fits = total <= self.cache_memory_mb * 2**20
        log.info(
            "Training images decoded: %.0f MiB in %d process(es), %s (data.cache_memory_mb=%g)",
            total / 2**20,
            max(1, self.num_workers),
            "kept in memory" if fits else "not kept: over the budget",
            self.cache_memory_mb,
        )
        return fits

    def dataloader_for(self, split: str) -> DataLoader:
        """Evaluation loader of any split: eval transform, protocol GT targets, no padding."""
        per_sample, per_batch = self._eval_steps
        dataset = WSOLDataset(self.split(split), per_sample, frame_size=self.eval_frame)
        return self._loader(dataset, self.eval_batch_size, eval_sampler(dataset), False, per_batch)

    def on_before_batch_transfer(self, batch, dataloader_idx: int):
        """Count the training images a batch skipped (their errors stay on the host)."""
        skipped = batch.pop("skipped_images", None) if isinstance(batch, dict) else None
        if skipped is not None and self.trainer is not None:
            epoch = self.trainer.current_epoch
            if epoch not in self.skipped_images:
                self._log_skipped()
                self.skipped_images[epoch] = []
            self.skipped_images[epoch].extend(skipped)
        return batch

    def _log_skipped(self) -> None:
        """Log the newest epoch's skipped images (once per epoch, when the next one starts)."""
        if not self.skipped_images:
            return
        epoch = max(self.skipped_images)
        errors = self.skipped_images[epoch]
        if errors:
            log.warning(
                "epoch %d: skipped %d unreadable training image(s) (data.skip_bad_images=true): %s",
                epoch,
                len(errors),
                "; ".join(sorted(set(errors))[:20]),
            )
        else:
            log.info("epoch %d: no training image skipped", epoch)

    def teardown(self, stage: str) -> None:
        if stage == "fit":
            self._log_skipped()

    def val_dataloader(self) -> DataLoader:
        return self.dataloader_for(self.val_split)

    def test_dataloader(self) -> DataLoader:
        return self.dataloader_for(self.test_split)

    def predict_dataloader(self) -> DataLoader:
        """The test split in evaluation form (``wsol-predict`` may bring its own images)."""
        return self.dataloader_for(self.test_split)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(metadata_root={os.fspath(self.metadata_root)!r}, "
            f"num_classes={self.num_classes}, eval_frame={self.eval_frame})"
        )
