"""Benchmark the evaluation engine against the straightforward per-threshold loop.

Times `MaxBoxAcc` (multi-contour, MaxBoxAccV2) and `PxAP` from `wsol.metrics` against the
plain loop of tests/helpers/reference_protocol.py (OpenCV `findContours` at every CAM
threshold, `np.histogram` per map) on the same seeded, realistic 224 x 224 score maps, at
100 and 1000 thresholds. Checks that every count is identical (exit status 1 if not) and
prints throughput, ratios and peak memory.

Method: numba compilation is excluded (a warm-up update runs first); the two sides
alternate batch by batch and are timed in CPU seconds of this process
(``time.process_time``), so a busy shared machine slows both alike; single thread. The
"ours" time is the public ``update`` (input checks included); ``compute`` is printed apart.

    python scripts/bench_metrics.py [--maps 500] [--batch 50] [--seed 0]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the baseline lives in tests/helpers

from tests.helpers import reference_protocol as ref  # noqa: E402
from wsol.cams.normalize import scoremaps_from_cams  # noqa: E402
from wsol.metrics import MaxBoxAcc, PxAP  # noqa: E402

IOUS = (30, 50, 70)


def realistic_maps(n: int, seed: int, size: int = 224):
    """CAM-like maps: low-resolution Gaussian blobs (1-3 objects) plus weak activation noise,
    bicubic-upsampled and min-max normalized like real CAMs; every 3rd map adds pixel noise,
    every 10th a ring around a hole. Returns float64 maps [n, size, size], GT boxes, masks."""
    rng = np.random.default_rng(seed)
    lows, boxes = [], []
    for i in range(n):
        k = int(rng.choice([7, 14, 28]))
        yy, xx = np.mgrid[:k, :k].astype(np.float64) + 0.5
        low = np.zeros((k, k))
        gts = []
        for _ in range(int(rng.integers(1, 4))):
            cy, cx = rng.uniform(0.15, 0.85, 2) * k
            sy, sx = rng.uniform(0.05, 0.25, 2) * k
            low += rng.uniform(0.4, 1.0) * np.exp(
                -0.5 * (((yy - cy) / sy) ** 2 + ((xx - cx) / sx) ** 2)
            )
            s = size / k
            gts.append(
                [
                    max(0, int((cx - 2 * sx) * s)),
                    max(0, int((cy - 2 * sy) * s)),
                    min(size - 1, int((cx + 2 * sx) * s)),
                    min(size - 1, int((cy + 2 * sy) * s)),
                ]
            )
        if i % 10 == 9:
            cy, cx = rng.uniform(0.3, 0.7, 2) * k
            r = np.hypot(yy - cy, xx - cx)
            low += np.exp(-0.5 * ((r - rng.uniform(0.12, 0.3) * k) / (0.06 * k + 0.3)) ** 2)
        low += rng.uniform(0.0, 0.1) * rng.random((k, k))
        lows.append(torch.from_numpy(low))
        boxes.append(np.array(gts, np.int64))
    maps = []
    for i, low in enumerate(lows):
        up = F.interpolate(low[None, None], size=(size, size), mode="bicubic", align_corners=False)
        up = up[0, 0].numpy()
        if i % 3 == 0:
            up = up + rng.uniform(0.0005, 0.01) * up.max() * rng.standard_normal(up.shape)
        maps.append(torch.from_numpy(up))
    scoremaps, invalid = scoremaps_from_cams(torch.stack(maps), (size, size))
    assert not invalid.any()
    scoremaps = scoremaps.numpy()
    masks = np.zeros(scoremaps.shape, np.uint8)
    for i, gts in enumerate(boxes):
        for x0, y0, x1, y1 in gts:
            masks[i, y0 : y1 + 1, x0 : x1 + 1] = 1
        masks[i, :4] = 255  # a strip of ignored pixels
    return scoremaps, boxes, masks


def run_baseline(scoremaps, boxes, masks, interval, counts, hists):
    """The straightforward loop: OpenCV at every threshold, np.histogram per map.

    Returns the CPU seconds of the box part and of the pixel part.
    """
    thr = ref.thresholds(interval)
    t0 = time.process_time()
    for s, b in zip(scoremaps, boxes, strict=True):
        counts += ref.box_correct(s, b, thr, IOUS, multi_contour=True)
    t1 = time.process_time()
    fg, bg = ref.pxap_histograms(scoremaps, masks, interval)
    t2 = time.process_time()
    hists[0] += fg.astype(np.int64)
    hists[1] += bg.astype(np.int64)
    return t1 - t0, t2 - t1


def run_ours(scoremaps, boxes, masks, box: MaxBoxAcc, pix: PxAP):
    """One batch through the public metrics; CPU seconds of each (compute excluded)."""
    t0 = time.process_time()
    box.update(torch.from_numpy(scoremaps), [torch.from_numpy(b) for b in boxes])
    t1 = time.process_time()
    pix.update(torch.from_numpy(scoremaps), torch.from_numpy(masks))
    t2 = time.process_time()
    return t1 - t0, t2 - t1


def bench(scoremaps, boxes, masks, interval, batch: int):
    """Interleave batches of both sides (the machine is shared: slow spells hit both)."""
    t = len(ref.thresholds(interval))
    box = MaxBoxAcc(iou_thresholds=IOUS, cam_curve_interval=interval, multi_contour=True)
    pix = PxAP(cam_curve_interval=interval)
    counts = np.zeros((len(IOUS), t), np.int64)
    hists = [np.zeros(t + 2, np.int64), np.zeros(t + 2, np.int64)]
    times = np.zeros(4)  # ours box, ours pixel, baseline box, baseline pixel
    tracemalloc.start()
    for i in range(0, len(scoremaps), batch):
        sl = slice(i, i + batch)
        times[:2] += run_ours(scoremaps[sl], boxes[sl], masks[sl], box, pix)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        times[2:] += run_baseline(scoremaps[sl], boxes[sl], masks[sl], interval, counts, hists)
        tracemalloc.start()
        tracemalloc.reset_peak()
    tracemalloc.stop()
    t0 = time.process_time()
    result_box, result_pix = box.compute(), pix.compute()
    compute_s = time.process_time() - t0
    same_box = np.array_equal(box.correct.numpy(), counts)
    same_pix = np.array_equal(pix.hist_fg.numpy(), hists[0]) and np.array_equal(
        pix.hist_bg.numpy(), hists[1]
    )
    return times, compute_s, peak, same_box, same_pix, result_box, result_pix


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--maps", type=int, default=500)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.set_num_threads(1)
    scoremaps, boxes, masks = realistic_maps(args.maps, args.seed)
    n = args.maps
    kinds = f"{sum(i % 3 == 0 for i in range(n))} with pixel noise, {n // 10} with a ring"
    print(f"{n} realistic 224x224 maps (seed {args.seed}; {kinds}), batches of {args.batch}")
    print("warm-up first: numba compilation is excluded from every timing")
    for interval in (0.01, 0.001):
        m = MaxBoxAcc(IOUS, interval, True)
        m.update(torch.from_numpy(scoremaps[:2]), [torch.from_numpy(b) for b in boxes[:2]])
        PxAP(interval).update(torch.from_numpy(scoremaps[:2]), torch.from_numpy(masks[:2]))
    print("timings are CPU seconds of this process (time.process_time), single thread")

    ok = True
    for interval in (0.01, 0.001):
        t = len(ref.thresholds(interval))
        times, compute_s, peak, same_box, same_pix, rb, rp = bench(
            scoremaps, boxes, masks, interval, args.batch
        )
        ok &= same_box and same_pix
        print(f"\n== {t} thresholds (cam_curve_interval={interval}) ==")
        print(f"MaxBoxAccV2 = {float(rb['value']):.4f}, PxAP = {float(rp['value']):.4f}")
        print(f"counts identical to the baseline: MaxBoxAccV2 {same_box}, PxAP {same_pix}")
        for name, ours_s, base_s in (
            ("MaxBoxAccV2", times[0], times[2]),
            ("PxAP", times[1], times[3]),
        ):
            print(f"{name:12s} ours {n / ours_s:8.1f} maps/s   baseline {n / base_s:7.1f} maps/s"
                  f"   speed-up {base_s / ours_s:5.1f}x")  # fmt: skip
        print(f"compute() of both: {compute_s * 1e3:.1f} ms; peak traced memory of one batch "
              f"update (ours): {peak / 2**20:.1f} MiB")  # fmt: skip
    print(
        f"\nprocess peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    )
    print("ALL COUNTS IDENTICAL" if ok else "MISMATCH between wsol.metrics and the baseline")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
