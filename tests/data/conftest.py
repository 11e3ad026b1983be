"""Fixtures of the data tests: a tiny synthetic benchmark and hand-made metadata folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from wsol.data.synthetic import SyntheticPreparer

TINY = dict(train_size=16, val_size=8, test_size=12, progress_bar=False)


@pytest.fixture(scope="session")
def tiny_synthetic(tmp_path_factory) -> SyntheticPreparer:
    """A generated tiny synthetic benchmark, probe splits included (shared by the tests of a
    session)."""
    preparer = SyntheticPreparer(root=str(tmp_path_factory.mktemp("synthetic")), **TINY)
    preparer()
    for probe in preparer.config.probe_splits():
        preparer.prepare_split(probe)
    return preparer


class MetadataFolder:
    """Writes a small wsolevaluation split by hand: images, metadata files, masks."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.meta = root / "meta" / "split"
        self.data.mkdir(parents=True)
        self.meta.mkdir(parents=True)

    def image(self, name: str, size=(20, 10), mode: str = "RGB") -> str:
        array = np.random.default_rng(0).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(array).convert(mode).save(self.data / name)
        return name

    def mask(self, name: str, array: np.ndarray) -> str:
        Image.fromarray(array.astype(np.uint8)).save(self.data / name)
        return name

    def write(self, **files: str) -> Path:
        """``write(image_ids="a.png\\n", ...)``: file stem → content."""
        for stem, text in files.items():
            (self.meta / f"{stem}.txt").write_text(text)
        return self.meta


@pytest.fixture
def folder(tmp_path) -> MetadataFolder:
    return MetadataFolder(tmp_path)


@pytest.fixture
def valid(folder: MetadataFolder) -> MetadataFolder:
    """A valid split: two 20x10 images, boxes on both, two instance masks on the second."""
    folder.image("a.png")
    folder.image("b.png")
    mask = np.zeros((10, 20), dtype=np.uint8)
    mask[2:5, 3:9] = 255
    folder.mask("b_m0.png", mask)
    folder.mask("b_ignore.png", np.zeros((10, 20)))
    folder.write(
        image_ids="a.png\nb.png\n",
        class_labels="a.png,0\nb.png,2\n",
        image_sizes="a.png,20,10\nb.png,20,10\n",
        localization="a.png,0,0,19,9\na.png,3,2,3,2\nb.png,3,2,8,4\n"
        "b.png,b_m0.png,b_ignore.png\nb.png,b_m0.png,\n",
    )
    return folder
