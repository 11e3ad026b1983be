"""A converted CUB-format tree trains through the data module the synthetic benchmark uses;
a corrupt image stops training with its name, or is skipped and counted on request; evaluation
never skips."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import open_dict

from tests.conftest import compose_config
from tests.data.original_formats import corrupt, cub_tree, write
from wsol.data.datamodule import WSOLDataModule
from wsol.data.formats.cub import prepare_cub

pytestmark = pytest.mark.slow

SMALL = [
    "data.num_classes=2",
    "data.batch_size=8",
    "data.eval_batch_size=8",
    "data.num_workers=0",
    "data.train_resize=64",
    "data.train_crop=56",
    "data.eval_size=64",
    "debug=fdr",
    "extras.print_config=false",
    "trainer.enable_progress_bar=false",
    "callbacks.progress_bar=null",
]


@pytest.fixture(scope="module")
def cub(tmp_path_factory) -> tuple[Path, Path]:
    """(converted metadata root, images root) of a CUB tree with 2 classes, val carved."""
    base = tmp_path_factory.mktemp("cub")
    root = cub_tree(base / "CUB_200_2011", per_class=4)
    val = write(base / "val.txt", "001.Albatross/x0.jpg\n002.Bunting/x0.jpg\n")
    summary = prepare_cub(root, base / "metadata", num_classes=2, val_list=val, progress=False)
    assert summary.written == {"test": 3, "train": 6, "val": 2}
    return base / "metadata", root / "images"


def train(tmp_path: Path, cub, overrides: list[str]) -> dict:
    from wsol.tasks.train import train as run

    metadata, images = cub
    roots = [f"data.metadata_root={metadata}", f"data.data_root={images}"]
    cfg = compose_config("train", ["data=cub", *roots, *SMALL, *overrides], tmp_path)
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / "run")
    run(cfg)
    return json.loads((tmp_path / "run" / "metrics.json").read_text())


def test_converted_cub_trains_with_fast_dev_run(tmp_path, cub):
    metrics = train(tmp_path, cub, [])
    assert {"test/maxboxaccv2", "test/top1_acc"} <= metrics.keys()


def copy_tree(cub, tmp_path: Path) -> tuple[Path, Path]:
    """A private copy of the converted tree (the tests below break one image in it)."""
    import shutil

    metadata, images = cub
    shutil.copytree(metadata, tmp_path / "metadata")
    shutil.copytree(images, tmp_path / "images")
    return tmp_path / "metadata", tmp_path / "images"


def test_corrupt_training_image_is_named_or_skipped_and_counted(tmp_path, cub, caplog):
    metadata, images = copy_tree(cub, tmp_path / "copy")
    corrupt(images / "001.Albatross/x1.jpg")
    with pytest.raises(ValueError, match=r"001.Albatross/x1.jpg: unreadable image"):
        train(tmp_path / "strict", (metadata, images), [])
    with caplog.at_level(logging.INFO, logger="wsol"):
        metrics = train(tmp_path / "skip", (metadata, images), ["data.skip_bad_images=true"])
    assert "test/maxboxaccv2" in metrics
    warnings = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "epoch 0: skipped 1 unreadable training image" in warnings[0]
    assert "001.Albatross/x1.jpg" in warnings[0]


def test_evaluation_never_skips(tmp_path, cub):
    metadata, images = copy_tree(cub, tmp_path / "copy")
    corrupt(images / "001.Albatross/x2.jpg")  # a test image
    datamodule = WSOLDataModule(
        str(metadata), str(images), num_classes=2, skip_bad_images=True, eval_size=32
    )
    with pytest.raises(ValueError, match=r"001.Albatross/x2.jpg: unreadable image"):
        list(datamodule.test_dataloader())
    batches = list(datamodule.train_dataloader())
    assert sum(len(b["skipped_images"]) for b in batches) == 0  # train images are all good


def test_data_config_takes_roots_from_the_local_datasets_block(cub, make_config):
    metadata, images = cub
    cfg = make_config(
        "train",
        [
            "data=cub",
            f"+datasets.cub.metadata_root={metadata}",
            f"+datasets.cub.data_root={images}",
            "data.num_classes=2",
        ],
    )
    datamodule = instantiate(cfg.data)
    assert datamodule.metadata_root == metadata and datamodule.data_root == images
    assert datamodule.class_names == ["001.Albatross", "002.Bunting"]
    assert (cfg.data.train_resize, cfg.data.train_crop, cfg.data.eval_size) == (256, 224, 224)
