"""Samplers the data module builds itself (the Trainer runs with ``use_distributed_sampler=False``).

- Evaluation under DDP: :class:`UnpaddedDistributedSampler` gives rank r the indices
  ``r, r + world, r + 2 * world, ...``. Every image is seen exactly once over all ranks
  (torch's ``DistributedSampler`` pads with repeated images so that ranks get equal counts,
  which would count those images twice in the metrics). Ranks may get one batch fewer.
- Training: torch's ``DistributedSampler(shuffle=True, seed)`` under DDP, else
  :class:`SeededShuffleSampler`; both reshuffle per epoch through ``set_epoch``, which
  Lightning calls at the start of every training epoch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sized

import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler, Sampler


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


class SeededShuffleSampler(Sampler[int]):
    """A random permutation per epoch, drawn from ``seed + epoch`` (reproducible, resumable).

    Args:
        dataset: anything with a length.
        seed: base seed of the permutations.
    """

    def __init__(self, dataset: Sized, seed: int = 0) -> None:
        self.size = len(dataset)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.size, generator=generator).tolist())

    def __len__(self) -> int:
        return self.size


def train_sampler(dataset: Sized, seed: int) -> Sampler[int]:
    """Shuffling sampler of the training split: distributed when a process group runs."""
    rank, world = distributed_world()
    if world > 1:
        return DistributedSampler(
            dataset, num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=False
        )
    return SeededShuffleSampler(dataset, seed=seed)


def eval_sampler(dataset: Sized) -> Sampler[int] | None:
    """Unpadded rank share under DDP; None (sequential order) in a single process."""
    rank, world = distributed_world()
    return UnpaddedDistributedSampler(dataset, world, rank) if world > 1 else None
