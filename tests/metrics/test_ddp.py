"""Two gloo processes, each updating a disjoint shard, compute exactly the one-process result."""

from __future__ import annotations

import pytest
import torch
import torch.multiprocessing as mp

from tests.helpers import ddp_worker


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, torch.Tensor):
        return a.shape == b.shape and torch.equal(a, b)
    return a == b


@pytest.mark.ddp
def test_two_processes_equal_one(tmp_path):
    out = tmp_path / "ddp_results.pt"
    mp.spawn(ddp_worker.run, args=(2, str(tmp_path / "init"), str(out)), nprocs=2, join=True)
    distributed = torch.load(out, weights_only=False)
    metrics = ddp_worker.make_metrics()
    ddp_worker.update(metrics, ddp_worker.make_data(), slice(None))
    for name, metric in metrics.items():
        single = metric.compute()
        assert _same(distributed[name], single), name
    assert int(metrics["all"].loc.n_images) == 20
    # Guard: rank 0's shard alone would not give these numbers.
    shard = ddp_worker.make_metrics()
    ddp_worker.update(shard, ddp_worker.make_data(), slice(0, 7))
    assert not all(_same(distributed[n], m.compute()) for n, m in shard.items())
