"""Generate-once-then-reuse wrapper around the synthetic generator, for the data module.

``SyntheticPreparer`` is the data module's ``preparer``: cheap to construct (Hydra builds it
with the data module), it generates nothing until called from ``prepare_data()`` and tells the
data module where its data lives (:meth:`SyntheticPreparer.roots`). The folder is
``<root>/synthetic-<hash of the parameters>``: changed parameters give a new folder. A folder
counts as present only with its ``COMPLETE`` marker; generation writes into a temporary
sibling folder that is renamed into place when whole, so an interrupted or concurrent
generation never leaves a half-written folder that looks complete.

The probe splits (``test_decoy_part``, ``test_random_body``: what a trained model's evidence is,
docs/synthetic.md) are no part of training: they are drawn on first use
(:meth:`SyntheticPreparer.prepare_split`, which the data module calls before it reads a split),
so ``wsol-train`` does not wait for 2000 images it never reads.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from dataclasses import dataclass, fields
from pathlib import Path
from typing import NamedTuple

from wsol.data.synthetic.config import SyntheticConfig
from wsol.data.synthetic.generate import generate_benchmark, generate_splits

log = logging.getLogger("wsol")
MARKER = "COMPLETE"


class DataRoots(NamedTuple):
    """Where a prepared data set lives: per-split metadata folders, images, masks."""

    metadata_root: Path
    data_root: Path
    mask_root: Path | None


@dataclass(frozen=True)
class SyntheticPreparer(SyntheticConfig):
    """Generates the synthetic benchmark under ``root`` on first call; reuses it afterwards.

    Takes every :class:`SyntheticConfig` field as a keyword, plus:

    Attributes:
        root: parent folder of the generated ``synthetic-<hash>`` folders.
        progress_bar: show a tqdm bar while generating (not part of the hash).
    """

    root: str = "data/synthetic"
    progress_bar: bool = True

    @property
    def config(self) -> SyntheticConfig:
        """The generation parameters alone."""
        names = [f.name for f in fields(SyntheticConfig)]
        return SyntheticConfig(**{name: getattr(self, name) for name in names})

    @property
    def folder(self) -> Path:
        return Path(self.root).absolute() / f"synthetic-{self.config.digest()}"

    def roots(self) -> DataRoots:
        """Metadata, image and mask roots of this configuration (whether generated or not)."""
        folder = self.folder
        return DataRoots(folder / "metadata", folder / "images", folder / "masks")

    @property
    def class_names(self) -> list[str]:
        return self.config.class_names()

    def is_complete(self) -> bool:
        marker = self.folder / MARKER
        return marker.is_file() and marker.read_text().strip() == self.config.digest()

    def __call__(self) -> None:
        """Generate the benchmark unless a complete copy exists (call on one process per node)."""
        folder, digest = self.folder, self.config.digest()
        if self.is_complete():
            log.info("Synthetic data: reusing %s", folder)
            return
        log.info("Synthetic data: generating %s", folder)
        staging = folder.with_name(f".{folder.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        try:
            generate_benchmark(self.config, staging, progress_bar=self.progress_bar, probes=False)
            (staging / MARKER).write_text(digest + "\n")
            if folder.exists() and not self.is_complete():
                shutil.rmtree(folder)  # an incomplete leftover of ours (no marker)
            try:
                os.rename(staging, folder)
            except OSError:
                if not self.is_complete():  # not another process finishing first
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def prepare_split(self, name: str) -> None:
        """Generate probe split ``name`` unless it exists; any other split: nothing to do.

        Needs the complete folder (``__call__``). The split is drawn into a hidden staging
        folder inside it and its images and then its metadata folder are renamed into place:
        a probe split whose metadata folder exists is whole. Drawing is deterministic, so when
        processes race, whichever copy lands first is the same bytes as the others.
        """
        if name not in self.config.probe_splits():
            return
        folder = self.folder
        metadata = folder / "metadata" / name
        if metadata.is_dir():
            return
        if not self.is_complete():
            raise RuntimeError(
                f"probe split {name!r}: the synthetic data in {folder} is not generated yet; "
                "call the preparer (prepare_data()) first"
            )
        log.info("Synthetic data: generating the probe split %s in %s", name, folder)
        staging = folder / f".{name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            size = self.config.split_sizes()[name]
            generate_splits(self.config, staging, {name: size}, self.progress_bar)
            for kind in ("images", "metadata"):  # metadata last: it marks the split whole
                _move_into_place(staging / kind / name, folder / kind / name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _move_into_place(source: Path, target: Path) -> None:
    """Rename a finished folder to ``target``; an existing target (another process's identical
    copy, renamed whole) is kept."""
    try:
        os.rename(source, target)
    except OSError:
        if not target.is_dir():
            raise


def synthetic_roots(root: str, **params) -> DataRoots:
    """Roots the synthetic benchmark with these parameters is (or will be) generated at."""
    return SyntheticPreparer(root=root, **params).roots()
