"""Time wsol's post-hoc extractors against pytorch-grad-cam and torchcam in the same run.

Each method explains the same random batch on the same torchvision classifier (random
weights: timing does not depend on them; nothing is downloaded) at the target layer
``layer4``, one class per image; the peers are called the way their documentation shows
(pytorch-grad-cam: ``cam(input_tensor, targets)``; torchcam: forward pass, then
``extractor(class_idx, scores)``), each with its default settings (Score-CAM chunks: wsol 32,
pytorch-grad-cam 16, torchcam 32). A warm-up call of every contender runs first; then the
contenders alternate within each repeat, so a slow spell of a shared machine hits all of
them, and each figure is the median over ``--repeats``. Printed: seconds per image of each
contender and the ratio peer / wsol (above 1: wsol is faster).

    python scripts/bench_posthoc.py [--methods gradcam,gradcampp,xgradcam,layercam,scorecam]
        [--arch resnet50] [--batch 16] [--score-batch 2] [--size 224] [--repeats 3]
        [--threads N]

Score-CAM runs one forward pass per channel of ``layer4`` and image (2048 for resnet50), so it
has its own (smaller) batch.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")  # pytorch-grad-cam's Score-CAM prints progress bars

import torch  # noqa: E402
import torchvision  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import wsol.cams as cams  # noqa: E402

# method → (wsol class, pytorch-grad-cam class name, torchcam class name)
METHODS = {
    "gradcam": (cams.GradCAM, "GradCAM", "GradCAM"),
    "gradcampp": (cams.GradCAMPlusPlus, "GradCAMPlusPlus", "GradCAMpp"),
    "xgradcam": (cams.XGradCAM, "XGradCAM", "XGradCAM"),
    "layercam": (cams.LayerCAM, "LayerCAM", "LayerCAM"),
    "scorecam": (cams.ScoreCAM, "ScoreCAM", "ScoreCAM"),
}


def ours(method: str, model, x, ids) -> Callable[[], object]:
    extractor = METHODS[method][0](model, target_layer="layer4")
    return lambda: extractor(x, ids)


def pytorch_grad_cam(method: str, model, x, ids) -> Callable[[], object]:
    import pytorch_grad_cam as pgc
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    extractor = getattr(pgc, METHODS[method][1])(model=model, target_layers=[model.layer4])
    targets = [ClassifierOutputTarget(int(c)) for c in ids]
    return lambda: extractor(input_tensor=x, targets=targets)


def torchcam(method: str, model, x, ids) -> Callable[[], object]:
    import torchcam.methods as tcm

    kwargs = {"input_shape": tuple(x.shape[1:])} if method == "scorecam" else {}
    extractor = getattr(tcm, METHODS[method][2])(model, target_layer="layer4", **kwargs)
    classes = [int(c) for c in ids]

    def run():
        if method == "scorecam":
            with torch.no_grad():
                scores = model(x)
        else:
            scores = model(x)
        maps = extractor(classes, scores)
        model.zero_grad(set_to_none=True)
        return maps

    run.close = extractor.remove_hooks
    return run


CONTENDERS = {"wsol": ours, "pytorch-grad-cam": pytorch_grad_cam, "torchcam": torchcam}


def bench(method: str, args) -> dict[str, float]:
    batch = args.score_batch if method == "scorecam" else args.batch
    torch.manual_seed(0)
    model = torchvision.models.get_model(args.arch, num_classes=1000).eval()
    x = torch.randn(batch, 3, args.size, args.size)
    ids = torch.randint(0, 1000, (batch,))
    times: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    for make in CONTENDERS.values():
        run = make(method, model, x, ids)
        run()  # warm-up
        getattr(run, "close", lambda: None)()
    for _ in range(args.repeats):
        for name, make in CONTENDERS.items():
            run = make(method, model, x, ids)
            start = time.perf_counter()
            run()
            times[name].append((time.perf_counter() - start) / batch)
            getattr(run, "close", lambda: None)()
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--arch", default="resnet50")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--score-batch", type=int, default=2)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    methods = args.methods.split(",")
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        parser.error(f"unknown methods {unknown}; choose from {sorted(METHODS)}")
    print(
        f"{args.arch} at {args.size}x{args.size}, batch {args.batch} "
        f"(Score-CAM {args.score_batch}),"
        f" median of {args.repeats}, torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print(f"{'method':<10} {'wsol s/img':>11} {'pgc s/img':>11} {'torchcam s/img':>15}"
          f" {'pgc/wsol':>9} {'torchcam/wsol':>14}")  # fmt: skip
    for method in methods:
        t = bench(method, args)
        print(
            f"{method:<10} {t['wsol']:>11.4f} {t['pytorch-grad-cam']:>11.4f} {t['torchcam']:>15.4f}"
            f" {t['pytorch-grad-cam'] / t['wsol']:>9.2f} {t['torchcam'] / t['wsol']:>14.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
