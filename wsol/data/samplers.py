"""Samplers the data module builds itself (the Trainer runs with ``use_distributed_sampler=False``).

- Evaluation under DDP: :class:`UnpaddedDistributedSampler` gives rank r the indices
  ``r, r + world, r + 2 * world, ...``. Every image is seen exactly once over all ranks
  (torch's ``DistributedSampler`` pads with repeated images so that ranks get equal counts,
  which would count those images twice in the metrics). Ranks may get one batch fewer.
- Training: :class:`SeededShuffleSampler`, which reshuffles per epoch through ``set_epoch``
  (Lightning calls it at the start of every training epoch) and gives every sample its own
  augmentation seed; under DDP each rank takes its share of the (padded) permutation.
"""

from __future__ import annotations

from collections.abc import Iterator, Sized

import torch
import torch.distributed as dist
from torch.utils.data import Sampler


def distributed_world() -> tuple[int, int]:
    """(rank, world size) of the initialized process group, or (0, 1) without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class UnpaddedDistributedSampler(Sampler[int]):
    """This rank's share of ``range(len(dataset))`` in order, without padding or shuffling.

    Args:
        dataset: anything with a length.
        num_replicas: world size (default: the process group's).
        rank: this process's rank (default: the process group's).
    """

    def __init__(
        self, dataset: Sized, num_replicas: int | None = None, rank: int | None = None
    ) -> None:
        group_rank, group_world = distributed_world()
        self.num_replicas = group_world if num_replicas is None else num_replicas
        self.rank = group_rank if rank is None else rank
        if not 0 <= self.rank < self.num_replicas:
            raise ValueError(f"rank {self.rank} is not in [0, {self.num_replicas})")
        self.size = len(dataset)

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.size, self.num_replicas))

    def __len__(self) -> int:
        return len(range(self.rank, self.size, self.num_replicas))


class SeededShuffleSampler(Sampler[tuple[int, int]]):
    """A permutation per epoch from ``seed + epoch``, each index paired with its own seed.

    Yields ``(index, sample_seed)``: the dataset seeds that sample's random augmentation with
    ``sample_seed``, a function of (seed, epoch, index) only. Crops and flips then do not
    depend on the process, the number of loader workers or where a run was resumed, so a
    resumed run continues exactly as an uninterrupted one.

    Under DDP (``num_replicas > 1``) the permutation is padded by repeating its head, as torch's
    DistributedSampler does for training, so every rank runs the same number of steps; rank r
    takes positions r, r + world, ...

    Args:
        dataset: anything with a length.
        seed: base seed of the permutations and augmentations.
        num_replicas: world size.
        rank: this process's rank.
    """

    def __init__(self, dataset: Sized, seed: int = 0, num_replicas: int = 1, rank: int = 0):
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is not in [0, {num_replicas})")
        self.size = len(dataset)
        self.seed = int(seed)
        self.epoch = 0
        self.num_replicas = num_replicas
        self.rank = rank

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[tuple[int, int]]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(self.size, generator=generator).tolist()
        padded = len(self) * self.num_replicas
        order = (order * (padded // max(1, len(order)) + 1))[:padded] if order else order
        for index in order[self.rank :: self.num_replicas]:
            yield index, sample_seed(self.seed, self.epoch, index)

    def __len__(self) -> int:
        return -(-self.size // self.num_replicas)


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A 63-bit seed for one sample's augmentation in one epoch."""
    mixed = seed * 0x9E3779B97F4A7C15 + epoch * 0xBF58476D1CE4E5B9 + index * 0x94D049BB133111EB
    return mixed % (2**63 - 1)


def train_sampler(dataset: Sized, seed: int) -> Sampler[tuple[int, int]]:
    """Shuffling sampler of the training split, this rank's share when a process group runs."""
    rank, world = distributed_world()
    return SeededShuffleSampler(dataset, seed=seed, num_replicas=world, rank=rank)


def eval_sampler(dataset: Sized) -> Sampler[int] | None:
    """Unpadded rank share under DDP; None (sequential order) in a single process."""
    rank, world = distributed_world()
    return UnpaddedDistributedSampler(dataset, world, rank) if world > 1 else None
