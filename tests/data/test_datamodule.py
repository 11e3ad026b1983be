"""The data module: roots from a preparer, loaders and batch layout, Hydra instantiation."""

from __future__ import annotations

import dataclasses
import logging

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from wsol.data.datamodule import WSOLDataModule
from wsol.data.dataset import WSOLDataset
from wsol.data.frame import boxes_to_frame

# The configuration recommended for configs/data/synthetic.yaml (sizes shrunk for the test).
SYNTHETIC_YAML = """
seed: 7
paths:
  data_dir: DATA_DIR
data:
  _target_: wsol.data.datamodule.WSOLDataModule
  preparer:
    _target_: wsol.data.synthetic.SyntheticPreparer
    root: ${paths.data_dir}/synthetic
    seed: 0
    num_classes: 8
    image_size: 96
    train_size: 16
    val_size: 8
    test_size: 12
    with_parts: true
    hue_noise: 1.0
    orientation_noise: 1.0
    probe_split: test
    probes: [decoy_part, random_body]
    progress_bar: false
  metadata_root: null
  data_root: null
  mask_root: null
  num_classes: ${.preparer.num_classes}
  class_names: null
  train_split: train
  val_split: val
  test_split: test
  batch_size: 4
  eval_batch_size: 5
  num_workers: 0
  train_resize: 96
  train_crop: 88
  eval_size: 96
  mean: [0.485, 0.456, 0.406]
  std: [0.229, 0.224, 0.225]
  seed: ${seed}
"""


def make(preparer, **kwargs) -> WSOLDataModule:
    args = dict(batch_size=4, eval_batch_size=5, train_resize=96, train_crop=88, eval_size=96)
    return WSOLDataModule(preparer=preparer, **{**args, **kwargs})


def test_loaders_and_batch_layout(tiny_synthetic):
    dm = make(tiny_synthetic)
    assert dm.num_classes == 8 and dm.class_names == tiny_synthetic.class_names
    assert dm.eval_frame == (96, 96)
    dm.prepare_data()
    dm.setup("fit")
    assert dm.has_masks("val") and not dm.has_masks("train")

    train = next(iter(dm.train_dataloader()))
    assert train["images"].shape == (4, 3, 88, 88) and train["images"].dtype == torch.float32
    assert train["labels"].dtype == torch.long and train["gt_boxes"] is None
    assert train["gt_masks"] is None and len(train["image_ids"]) == 4
    assert train["boxes"] is None  # labels only unless asked for
    with_boxes = make(tiny_synthetic, train_boxes=True)
    boxes = next(iter(with_boxes.train_dataloader()))["boxes"]
    assert len(boxes) == 4 and all(b.canvas_size == (88, 88) for b in boxes)

    loader = dm.val_dataloader()
    batches = list(loader)
    assert [len(b["image_ids"]) for b in batches] == [5, 3]  # nothing dropped or padded
    val = batches[0]
    assert val["images"].shape == (5, 3, 96, 96) and val["gt_masks"].shape == (5, 96, 96)
    assert val["indices"].tolist() == [0, 1, 2, 3, 4]
    records = dm.split("val").records
    for boxes, index in zip(val["gt_boxes"], val["indices"], strict=True):
        record = records[index]
        assert torch.equal(boxes, boxes_to_frame(record.boxes, (96, 96), (96, 96)))
    probe = next(iter(dm.dataloader_for("test_random_body")))
    assert probe["image_ids"][0] == "test_random_body/00000.png"


def test_training_batches_are_reproducible(tiny_synthetic):
    def first_batch():
        torch.manual_seed(0)
        dm = make(tiny_synthetic, seed=5)
        dm.setup("fit")
        return next(iter(dm.train_dataloader()))

    a, b = first_batch(), first_batch()
    assert a["image_ids"] == b["image_ids"] and torch.equal(a["images"], b["images"])
    assert a["image_ids"] != [f"train/{i:05d}.png" for i in range(4)]  # shuffled


def test_worker_loaders_are_reproducible(tiny_synthetic):
    def first_batch():
        dm = make(tiny_synthetic, seed=5, num_workers=1)
        dm.setup("fit")
        loader = dm.train_dataloader()
        assert loader.persistent_workers
        return next(iter(loader))

    a, b = first_batch(), first_batch()
    assert a["image_ids"] == b["image_ids"] and torch.equal(a["images"], b["images"])


def _epochs(dm, epochs=(0, 1)):
    loader = dm.train_dataloader()
    batches = []
    for epoch in epochs:
        loader.sampler.set_epoch(epoch)
        batches.extend(loader)
    return loader.dataset, batches


@pytest.mark.parametrize("num_workers", [0, 1])
def test_cached_training_images_give_the_same_batches(tiny_synthetic, num_workers):
    """The decoded-image cache changes no batch: per-epoch augmentation still runs."""
    cached_set, cached = _epochs(make(tiny_synthetic, seed=5, cache_train_images=True))
    plain_set, plain = _epochs(make(tiny_synthetic, seed=5, cache_train_images=False))
    if num_workers:
        _, cached = _epochs(
            make(tiny_synthetic, seed=5, cache_train_images=True, num_workers=num_workers)
        )
    assert plain_set.cache is None
    assert len(cached) == len(plain) == 8
    for a, b in zip(cached, plain, strict=True):
        assert a["image_ids"] == b["image_ids"] and torch.equal(a["images"], b["images"])
    # Epochs differ (fresh crops and flips), and the cache holds the untouched decodes.
    assert not torch.equal(cached[0]["images"], cached[4]["images"])
    if not num_workers:
        assert sorted(cached_set.cache) == list(range(16))
        record = cached_set.records[3]
        assert torch.equal(cached_set.cache[3], cached_set._decode(record))


def test_batches_equal_the_whole_pipeline_run_per_sample(tiny_synthetic):
    """The loaders normalize once per batch: the same numbers as the protocol's pipelines run
    whole on each sample."""
    dm = make(tiny_synthetic, seed=5)
    loader = dm.train_dataloader()
    batch = next(iter(loader))
    whole = WSOLDataset(loader.dataset.records, dm.train_transform, with_boxes=False)
    seeds = list(loader.sampler)[:4]
    expected = torch.stack([whole[key]["image"].as_subclass(torch.Tensor) for key in seeds])
    assert batch["images"].dtype == torch.float32 and torch.equal(batch["images"], expected)
    batch = next(iter(dm.val_dataloader()))
    whole = WSOLDataset(dm.split("val"), dm.eval_transform)
    expected = torch.stack([whole[i]["image"].as_subclass(torch.Tensor) for i in range(5)])
    assert torch.equal(batch["images"], expected)


def test_train_image_cache_follows_its_memory_budget(tiny_synthetic, caplog):
    decoded = 16 * 3 * 96 * 96  # the tiny split: 16 RGB images of 96 x 96
    assert make(tiny_synthetic).caches_train_images()  # default: 1 GiB
    budget_mb = decoded * 2 / 2**20
    assert make(tiny_synthetic, cache_memory_mb=budget_mb).caches_train_images()
    with caplog.at_level(logging.INFO, logger="wsol"):
        assert not make(
            tiny_synthetic, cache_memory_mb=budget_mb, num_workers=3
        ).caches_train_images()
    assert "not kept: over the budget" in caplog.text
    assert not make(tiny_synthetic, cache_memory_mb=0).caches_train_images()
    assert make(tiny_synthetic, cache_memory_mb=0, cache_train_images=True).caches_train_images()
    assert make(tiny_synthetic, cache_train_images=False).train_dataloader().dataset.cache is None
    with pytest.raises(ValueError, match="data.cache_memory_mb must be >= 0"):
        make(tiny_synthetic, cache_memory_mb=-1)


def test_configuration_errors(tiny_synthetic, tmp_path):
    with pytest.raises(ValueError, match="data.metadata_root and data.data_root must be set"):
        WSOLDataModule(num_classes=3)
    with pytest.raises(ValueError, match="data.num_classes must be set"):
        WSOLDataModule(metadata_root="m", data_root="d")
    with pytest.raises(ValueError, match="class_names has 2 names but num_classes=8"):
        make(tiny_synthetic, class_names=["a", "b"])
    missing = dataclasses.replace(tiny_synthetic, root=str(tmp_path))
    with pytest.raises(RuntimeError, match="call prepare_data"):
        make(missing).setup("fit")


def test_hydra_yaml_instantiates_and_prepares(tmp_path):
    cfg = OmegaConf.create(SYNTHETIC_YAML.replace("DATA_DIR", str(tmp_path)))
    dm = instantiate(cfg.data)
    assert isinstance(dm, WSOLDataModule) and dm.num_classes == 8 and dm.seed == 7
    assert dm.metadata_root == dm.preparer.roots().metadata_root
    assert dm.metadata_root.parent.parent == tmp_path / "synthetic"
    dm.prepare_data()
    dm.setup("test")
    assert len(dm.split("test")) == 12 and dm.has_masks("test")
    # The checkpoint stores the resolved config as plain containers: it instantiates again.
    stored = OmegaConf.to_container(cfg.data, resolve=True)
    again = instantiate(OmegaConf.create(stored), test_split="test_decoy_part")
    assert again.metadata_root == dm.metadata_root and again.test_split == "test_decoy_part"
