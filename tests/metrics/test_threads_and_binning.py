"""Metric threads change no count; the PxAP binning equals np.histogram at every edge.

The compiled kernels spread maps over `wsol.metrics.get_num_threads` threads with private
buffers; every state must be identical for any thread count (including more threads than
maps or cores). The PxAP binning decides bins from ``s / interval`` rounded in the scores'
precision and falls back to float64 comparisons near edges: checked here against
``np.histogram`` on every float around every edge, for many intervals and both dtypes.
"""

from __future__ import annotations

import multiprocessing
import warnings

import numpy as np
import pytest
import torch
from torchmetrics import Metric

from tests.helpers.adversarial_maps import gt_boxes, scoremap
from wsol.metrics import (
    MaxBoxAcc,
    PxAP,
    WSOLMetrics,
    _threads,
    get_num_threads,
    set_num_threads,
)
from wsol.metrics import functional as F
from wsol.metrics import reference as ref


@pytest.fixture(autouse=True)
def _default_threads():
    yield
    set_num_threads(None)


def _data(seed: int, n: int, h: int, w: int, dtype=np.float64) -> dict:
    rng = np.random.default_rng(seed)
    kinds = ("blobs", "rings", "noise", "levels", "plateau", "lines", "checker", "dim", "flat")
    maps = np.stack([scoremap(rng, kinds[i % len(kinds)], h, w) for i in range(n)])
    maps = maps.astype(dtype)
    masks = rng.choice(np.array([0, 1, 255], np.uint8), size=maps.shape, p=[0.5, 0.4, 0.1])
    return {
        "maps": torch.from_numpy(maps),
        "boxes": [torch.from_numpy(gt_boxes(rng, m.astype(np.float64))) for m in maps],
        "labels": torch.from_numpy(rng.integers(0, 5, n)),
        "logits": torch.from_numpy(rng.standard_normal((n, 5))),
        "masks": torch.from_numpy(masks),
    }


def _states(threads: int, data: dict, interval: float) -> dict:
    """Every count state of every metric after two updates with ``threads`` threads."""
    set_num_threads(threads)
    metrics = {
        "v2": MaxBoxAcc((30, 50, 70), interval, multi_contour=True),
        "v1": MaxBoxAcc((50,), interval, multi_contour=False),
        "pxap": PxAP(interval),
        "all": WSOLMetrics(interval, (30, 50, 70), with_masks=True, loc_multi_contour=True),
        "all_v1": WSOLMetrics(interval, (30, 50, 70), with_masks=True),
    }
    n = len(data["maps"])
    for part in (slice(0, n // 3), slice(n // 3, None)):
        maps, boxes, masks = data["maps"][part], data["boxes"][part], data["masks"][part]
        labels, logits = data["labels"][part], data["logits"][part]
        metrics["v2"].update(maps, boxes)
        metrics["v1"].update(maps, boxes)
        metrics["pxap"].update(maps, masks)
        metrics["all"].update(maps, boxes, labels, logits, gt_masks=masks)
        metrics["all_v1"].update(maps, boxes, labels, logits, gt_masks=masks)
    return {
        ".".join(filter(None, (name, part, key))): value.clone()
        for name, metric in metrics.items()
        for part, child in metric.named_modules()
        if isinstance(child, Metric)
        for key, value in child.metric_state.items()
    }


@pytest.mark.parametrize("interval", [0.01, 0.001])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_counts_do_not_depend_on_the_thread_count(interval, dtype):
    data = _data(3, 37, 29, 33, dtype)
    one = _states(1, data, interval)
    assert int(one["v2.n_images"]) == 37 and int(one["pxap.hist_fg"].sum()) > 0
    for threads in (2, 3, 64):
        other = _states(threads, data, interval)
        assert one.keys() == other.keys()
        for key in one:
            assert torch.equal(one[key], other[key]), f"{key} differs with {threads} threads"


def test_threaded_counts_match_the_reference():
    data = _data(5, 12, 21, 18)
    set_num_threads(2)
    metric = MaxBoxAcc((30, 50, 70), 0.01, multi_contour=True)
    metric.update(data["maps"], data["boxes"])
    expected = ref.maxboxacc_counts(
        data["maps"].numpy(), [b.numpy() for b in data["boxes"]], 0.01, (30, 50, 70), True
    )
    assert np.array_equal(metric.correct.numpy(), expected)
    pixel = PxAP(0.001)
    pixel.update(data["maps"], data["masks"])
    fg, bg = ref.pxap_histograms(data["maps"].numpy(), data["masks"].numpy(), 0.001)
    assert np.array_equal(pixel.hist_fg.numpy(), fg) and np.array_equal(pixel.hist_bg.numpy(), bg)


def test_thread_count_setting_and_environment(monkeypatch):
    monkeypatch.setenv(_threads.ENV_VAR, "3")
    set_num_threads(None)
    assert get_num_threads() == 3
    set_num_threads(1)
    assert get_num_threads() == 1
    monkeypatch.delenv(_threads.ENV_VAR)
    set_num_threads(None)
    assert get_num_threads() == _threads.available_cores()
    monkeypatch.setenv(_threads.ENV_VAR, "zero")
    set_num_threads(None)
    with pytest.warns(UserWarning, match="WSOL_METRIC_THREADS"):
        assert get_num_threads() == _threads.available_cores()
    for bad in (0, -2, 1.5, True, "2"):
        with pytest.raises(ValueError, match="integer >= 1"):
            set_num_threads(bad)


def test_run_blocks_covers_every_item_once_and_propagates_errors():
    set_num_threads(3)
    seen = []
    slots_busy = set()

    def work(lo, hi, slot):
        assert slot not in slots_busy  # a slot's buffers are never shared
        slots_busy.add(slot)
        seen.extend(range(lo, hi))
        slots_busy.discard(slot)

    used = _threads.run_blocks(10, 3, work)
    assert sorted(seen) == list(range(10)) and 1 <= used <= 3

    def fail(lo, hi, slot):
        if lo == 6:
            raise RuntimeError("block 6")

    with pytest.raises(RuntimeError, match="block 6"):
        _threads.run_blocks(10, 3, fail)


def _child_counts(queue) -> None:
    data = _data(9, 8, 17, 19)
    metric = PxAP(0.01)
    metric.update(data["maps"], data["masks"])
    box = MaxBoxAcc()
    box.update(data["maps"], data["boxes"])
    queue.put((metric.hist_fg.numpy(), box.correct.numpy()))


def test_threads_work_in_a_forked_child():
    """The pool is recreated after fork (a child must not wait on the parent's threads)."""
    set_num_threads(2)
    data = _data(9, 8, 17, 19)
    metric = PxAP(0.01)
    metric.update(data["maps"], data["masks"])  # the parent's pool exists now
    box = MaxBoxAcc()
    box.update(data["maps"], data["boxes"])
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
        child = ctx.Process(target=_child_counts, args=(queue,))
        child.start()
    fg, correct = queue.get(timeout=120)
    child.join(timeout=60)
    assert child.exitcode == 0
    assert np.array_equal(fg, metric.hist_fg.numpy())
    assert np.array_equal(correct, box.correct.numpy())


def _values_around_edges(edges: np.ndarray, dtype, k: int) -> np.ndarray:
    """Every float of ``dtype`` within k steps of each edge (as rounded to dtype), plus
    0, -0, the smallest subnormal, 1 and the float below 1, all within [0, 1]."""
    near = edges.astype(dtype)
    values = [near]
    low, high = near.copy(), near.copy()
    for _ in range(k):
        low = np.nextafter(low, dtype(-1))
        high = np.nextafter(high, dtype(2))
        values += [low, high]
    tiny = np.finfo(dtype).smallest_subnormal
    extra = np.array([0.0, -0.0, tiny, 1.0, np.nextafter(dtype(1), dtype(0))], dtype)
    out = np.concatenate(values + [extra]).astype(dtype)
    return out[(out >= 0) & (out <= 1)]


INTERVALS = [0.01, 0.001, 0.3, 0.07, 0.013, 1e-4, 1e-5, 0.5, 0.25, 0.9, 1 / 3, 0.0625]
INTERVALS += [float(v) for v in np.random.default_rng(0).uniform(1e-4, 0.5, 12)]


@pytest.mark.parametrize("interval", INTERVALS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pxap_binning_equals_np_histogram_around_every_edge(interval, dtype):
    edges = F.pxap_bin_edges(interval)
    k = 24 if len(edges) < 5000 else 3
    values = _values_around_edges(edges[:-2], dtype, k)
    rng = np.random.default_rng(len(values))
    values = rng.permutation(values)  # edges land in every position of a block
    masks = np.ones(values.shape, np.uint8)
    fg, bg = F.score_histograms(values[None, None, :], masks[None, None, :], interval)
    assert np.array_equal(fg, np.histogram(values, bins=edges)[0])
    assert not bg.any()
    masks = rng.choice(np.array([0, 1, 255], np.uint8), values.shape)
    fg, bg = F.score_histograms(values[None, None, :], masks[None, None, :], interval)
    assert np.array_equal(fg, np.histogram(values[masks == 1], bins=edges)[0])
    assert np.array_equal(bg, np.histogram(values[masks == 0], bins=edges)[0])


BAD_SCORES = [np.nan, -1e-300, -0.5, 1 + 1e-9, 1.5, 2.0, 1e300, np.inf, -np.inf, -1e10]


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
@pytest.mark.parametrize("position", [0, 2047, 2048, 3599])
def test_pxap_rejects_bad_scores_wherever_they_are(dtype, position):
    rng = np.random.default_rng(position)
    for bad in BAD_SCORES:
        with np.errstate(over="ignore"):
            value = dtype(bad)
        if value == value and 0 <= value <= 1:
            continue  # rounds into [0, 1] in this dtype
        maps = rng.random((3, 40, 90)).astype(dtype)
        maps[1].reshape(-1)[position] = value
        masks = rng.choice(np.array([0, 1, 255], np.uint8), maps.shape)
        with pytest.raises(ValueError, match=r"scoremaps\[1\]"):
            PxAP().update(torch.from_numpy(maps), torch.from_numpy(masks))
        with pytest.raises(ValueError, match=r"scoremaps\[1\]"):
            F.score_histograms(maps, masks, 0.001)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pxap_negative_zero_is_zero_and_bad_masks_are_found(dtype):
    rng = np.random.default_rng(1)
    maps = rng.random((3, 40, 90)).astype(dtype)
    maps[2, 5, 7] = -0.0
    masks = rng.choice(np.array([0, 1, 255], np.uint8), maps.shape)
    fg, bg = F.score_histograms(maps, masks, 0.01)
    expected = ref.pxap_histograms(maps, masks, 0.01)
    assert np.array_equal(fg, expected[0]) and np.array_equal(bg, expected[1])
    for value in (2, 3, 100, 128, 254):
        bad = masks.copy()
        bad[2].reshape(-1)[3000] = value
        with pytest.raises(
            ValueError, match=rf"gt_masks\[2\] has values other than 0, 1, 255: \[{value}\]"
        ):
            PxAP().update(torch.from_numpy(maps), torch.from_numpy(bad))


def test_pxap_reports_a_bad_map_before_a_bad_mask():
    """Errors keep their order: all score maps are checked before the masks."""
    rng = np.random.default_rng(2)
    maps = rng.random((3, 8, 10))
    maps[2, 1, 1] = np.nan
    masks = np.zeros((3, 8, 10), np.uint8)
    masks[0, 0, 0] = 7
    with pytest.raises(ValueError, match=r"scoremaps\[2\] contains NaN"):
        PxAP().update(torch.from_numpy(maps), torch.from_numpy(masks))
    with pytest.raises(ValueError, match=r"scoremaps\[2\] contains NaN"):
        PxAP().update(torch.from_numpy(maps), torch.zeros(3, 8, 9, dtype=torch.uint8))
