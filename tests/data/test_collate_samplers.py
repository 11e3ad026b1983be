"""Batch layout and the samplers (unpadded evaluation shares, seeded shuffles)."""

from __future__ import annotations

import pytest
import torch
from torchvision import tv_tensors

from wsol.data.collate import collate_wsol
from wsol.data.dataset import edge_boxes
from wsol.data.samplers import (
    SeededShuffleSampler,
    UnpaddedDistributedSampler,
    eval_sampler,
    train_sampler,
)


def sample(index: int, boxes: int, with_mask: bool = True) -> dict:
    return {
        "image": tv_tensors.Image(torch.full((3, 8, 8), float(index))),
        "label": index % 3,
        "boxes": edge_boxes([[0, 0, 1, 1]] * boxes, (8, 8)),
        "mask": None,
        "image_id": f"img{index}.png",
        "index": index,
        "gt_boxes": torch.tensor([[index, 0, 5, 5]] * boxes, dtype=torch.long).reshape(-1, 4),
        "gt_mask": torch.full((8, 8), index, dtype=torch.uint8) if with_mask else None,
    }


def test_collate_keeps_variable_box_counts():
    batch = collate_wsol([sample(0, 1), sample(1, 3), sample(2, 0)])
    assert batch["images"].shape == (3, 3, 8, 8) and type(batch["images"]) is torch.Tensor
    assert batch["labels"].tolist() == [0, 1, 2] and batch["labels"].dtype == torch.long
    assert [b.shape for b in batch["gt_boxes"]] == [(1, 4), (3, 4), (0, 4)]
    assert batch["gt_masks"].shape == (3, 8, 8) and batch["gt_masks"].dtype == torch.uint8
    assert batch["image_ids"] == ["img0.png", "img1.png", "img2.png"]
    assert batch["indices"].tolist() == [0, 1, 2]
    assert batch["masks"] is None and len(batch["boxes"]) == 3


def test_collate_without_targets_or_masks():
    plain = [{k: v for k, v in sample(i, 1).items() if not k.startswith("gt_")} for i in range(2)]
    batch = collate_wsol(plain)
    assert batch["gt_boxes"] is None and batch["gt_masks"] is None
    assert collate_wsol([sample(0, 1, False)])["gt_masks"] is None


def test_collate_refuses_mixed_masks():
    with pytest.raises(ValueError, match=r"without: \['img1.png'\]"):
        collate_wsol([sample(0, 1), sample(1, 1, with_mask=False)])


@pytest.mark.parametrize("size", [0, 1, 2, 5, 7, 10, 64, 101])
@pytest.mark.parametrize("world", [1, 2, 3, 4, 8])
def test_unpadded_sampler_covers_every_index_once(size, world):
    dataset = range(size)
    shares = [list(UnpaddedDistributedSampler(dataset, world, rank)) for rank in range(world)]
    assert sorted(i for share in shares for i in share) == list(range(size))
    assert [len(UnpaddedDistributedSampler(dataset, world, r)) for r in range(world)] == [
        len(s) for s in shares
    ]
    assert max(map(len, shares)) - min(map(len, shares)) <= 1


def test_unpadded_sampler_rejects_bad_rank():
    with pytest.raises(ValueError, match="rank 2 is not in"):
        UnpaddedDistributedSampler(range(4), num_replicas=2, rank=2)


def test_single_process_samplers():
    assert eval_sampler(range(5)) is None
    sampler = train_sampler(range(50), seed=3)
    assert isinstance(sampler, SeededShuffleSampler)
    first = list(sampler)
    indices = [index for index, _ in first]
    assert sorted(indices) == list(range(50)) and indices != list(range(50))
    assert list(train_sampler(range(50), seed=3)) == first  # same seed, same order and seeds
    sampler.set_epoch(1)
    second = list(sampler)
    assert [i for i, _ in second] != indices and sorted(i for i, _ in second) == list(range(50))
    # Each sample's augmentation seed depends on (seed, epoch, index) only.
    assert dict(second) != dict(first)
    assert len({seed for _, seed in first}) == 50


def test_distributed_choice(monkeypatch):
    import wsol.data.samplers as samplers

    monkeypatch.setattr(samplers, "distributed_world", lambda: (1, 3))
    evaluation = samplers.eval_sampler(range(10))
    assert isinstance(evaluation, UnpaddedDistributedSampler) and list(evaluation) == [1, 4, 7]
    training = samplers.train_sampler(range(10), seed=0)
    assert isinstance(training, SeededShuffleSampler) and len(training) == 4


def test_distributed_training_shares_cover_the_padded_permutation():
    world = 3
    shares = [
        list(SeededShuffleSampler(range(10), seed=5, num_replicas=world, rank=r))
        for r in range(world)
    ]
    assert [len(share) for share in shares] == [4, 4, 4]  # padded to equal steps per rank
    indices = [index for share in shares for index, _ in share]
    assert set(indices) == set(range(10)) and len(indices) == 12
    single = dict(SeededShuffleSampler(range(10), seed=5))
    for share in shares:  # the augmentation seed of a sample is the same on every rank count
        assert all(single[index] == seed for index, seed in share)
