"""Two gloo processes, each updating its share of the data, compute exactly the
one-process result: with disjoint shards, with a rank that gets no image at all (a split
smaller than the world), and on a mask split where one rank's images have no boxes."""

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


@pytest.fixture(scope="module")
def distributed(tmp_path_factory) -> dict[str, list[dict]]:
    """Per layout, what each of two gloo processes computed (one spawn for all layouts)."""
    folder = tmp_path_factory.mktemp("ddp")
    out = folder / "ddp_results_"
    layouts = list(ddp_worker.LAYOUTS)
    mp.spawn(ddp_worker.run, args=(2, str(folder / "init"), str(out), layouts), nprocs=2)
    return {
        layout: [torch.load(f"{out}{layout}{rank}", weights_only=False) for rank in (0, 1)]
        for layout in layouts
    }


@pytest.mark.ddp
@pytest.mark.parametrize("layout", ["shards", "rank0_empty"])
def test_two_processes_equal_one(distributed, layout):
    single = ddp_worker.single_process(layout)
    assert not any(isinstance(v, str) for v in single.values()), single
    assert single["all"]["maxboxaccv2"] is not None
    for rank, results in enumerate(distributed[layout]):
        for name, value in single.items():
            assert _same(results[name], value), f"rank {rank}: {name}"
    if layout == "shards":  # guard: rank 0's shard alone would not give these numbers
        shard = ddp_worker.make_metrics()
        ddp_worker.update(shard, ddp_worker.make_data(), slice(0, 7))
        assert not all(_same(single[n], m.compute()) for n, m in shard.items())


@pytest.mark.ddp
def test_rank_without_box_images_gets_the_one_process_answer(distributed):
    """Boxes on 13 of 20 images of a mask split: one process refuses it (boxes for some
    images only); both ranks refuse it the same way instead of one waiting for the other."""
    single = ddp_worker.single_process("rank0_no_boxes")
    assert (
        single["all"] == "ValueError: LocalizationAccuracy: gt_boxes were given for 13 of 20 images"
    )
    for results in distributed["rank0_no_boxes"]:
        assert results == single
