"""Few-shot validation subsets and the proxy training set, alone and through the data module."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.helpers.wsoleval_fixture import NUM_CLASSES, SPLIT_SIZES, write_wsoleval
from wsol.data.datamodule import WSOLDataModule
from wsol.data.formats.wsoleval import read_split
from wsol.data.subsets import few_shot_subset, proxy_subset, split_summary


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    return write_wsoleval(tmp_path_factory.mktemp("subsets"))


def split(roots, name):
    meta, data, _ = roots
    return read_split(meta / name, data, name=name)


def test_few_shot_takes_n_per_class_in_order_and_is_seeded(roots):
    val = split(roots, "val")
    subset = few_shot_subset(val, 3, seed=0)
    assert Counter(r.label for r in subset.records) == {0: 3, 1: 3}
    order = [val.records.index(r) for r in subset.records]
    assert order == sorted(order)
    assert few_shot_subset(val, 3, seed=0).records == subset.records
    others = {few_shot_subset(val, 3, seed=s).records for s in range(1, 6)}
    assert any(o != subset.records for o in others)
    assert few_shot_subset(val, 0) is val


def test_few_shot_keeps_every_image_of_a_short_class_and_says_so(roots, caplog):
    """More images asked than a class has (the benchmark's CUBV2 val: 3 of class 58): the
    class keeps all of them, and the log and split_summary give the split's size."""
    val = split(roots, "val")
    with caplog.at_level("INFO", logger="wsol"):
        subset = few_shot_subset(val, 11)
    assert subset.records == val.records
    assert "2 classes, 20 images; 2 class(es) have fewer than 11 images" in caplog.text
    assert "(class 0: 10, class 1: 10)" in caplog.text
    assert split_summary(subset, "val") == {"data/val_classes": 2.0, "data/val_images": 20.0}
    with pytest.raises(ValueError, match="must be >= 0"):
        few_shot_subset(val, -1)


def test_proxy_subset_reads_the_id_file(roots, tmp_path):
    train = split(roots, "train")
    proxy = proxy_subset(train)
    assert [r.image_id for r in proxy.records] == [r.image_id for r in train.records][::2]
    bad = tmp_path / "ids.txt"
    bad.write_text(f"{train.records[0].image_id}\nmissing.png\n")
    with pytest.raises(ValueError, match=rf"{bad}:2: 'missing.png' is not in split 'train'"):
        proxy_subset(train, bad)
    bad.write_text(f"{train.records[0].image_id}\n{train.records[0].image_id}\n")
    with pytest.raises(ValueError, match=r":2: .* repeats line 1"):
        proxy_subset(train, bad)
    with pytest.raises(FileNotFoundError, match="no such file"):
        proxy_subset(train, tmp_path / "none.txt")


def test_datamodule_applies_both(roots):
    meta, data, _ = roots
    module = WSOLDataModule(
        metadata_root=str(meta),
        data_root=str(data),
        num_classes=NUM_CLASSES,
        num_val_sample_per_class=2,
        proxy_training_set=True,
    )
    assert len(module.split("val")) == 2 * NUM_CLASSES
    assert len(module.split("train")) == SPLIT_SIZES["train"] * NUM_CLASSES // 2
    # The test split is never subsampled.
    assert len(module.split("test")) == SPLIT_SIZES["test"] * NUM_CLASSES
    assert len(module.val_dataloader().dataset) == 2 * NUM_CLASSES
