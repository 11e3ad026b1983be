"""Time every wsol post-hoc explainer against every peer that implements it, in the same run.

Peers: pytorch-grad-cam 1.5.7 (``pgc``), torchcam 0.5.0 and captum 0.9 (``pip install -e
".[bench]"``). Each explainer explains the same random batch on the same torchvision
classifier (random weights: timing does not depend on them; nothing is downloaded), layer-based
ones at ``layer4``, one class per image. The peers are called the way their documentation shows,
with the settings of wsol's call where they have one (Score-CAM chunk, SmoothGrad samples and
samples per pass, occlusion window, stride and windows per pass). A warm-up call of every
contender runs first; then the contenders alternate (each repeat starts with the next one), so
a slow spell of a shared machine hits all of them, and each figure is the median over
``--repeats``.

Printed per (explainer, peer): seconds per image of wsol and of the peer, the ratio peer / wsol
(above 1: wsol is faster), and parity: the smallest per-image Pearson correlation between
wsol's maps and the peer's, both taken to wsol's convention (input resolution, map = max |.|
over colour channels for input attributions, low-resolution maps through wsol's bicubic
upsampling, per-image min-max). ``note`` says where the two definitions differ. wsol's time
includes its upsampling and normalization; the peers' does not always (torchcam and captum's
layer maps stay at the layer's resolution).

    python scripts/bench_posthoc.py [--methods gradcam,...|all] [--arch resnet50] [--batch 16]
        [--heavy-batch 2] [--size 224] [--repeats 3] [--clock wall|cpu] [--threads N]

The heavy explainers (Score-CAM: one forward pass per channel of ``layer4`` and image;
SmoothGrad: ``--samples`` forward and backward passes per image; occlusion: one forward pass
per window and image) run on ``--heavy-batch`` images.
"""

from __future__ import annotations

import argparse
import copy
import gc
import inspect
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")  # pytorch-grad-cam's Score-CAM prints progress bars

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torchvision  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import wsol.cams as cams  # noqa: E402
from wsol.cams.normalize import minmax_normalize  # noqa: E402
from wsol.cams.pipeline import scoremaps  # noqa: E402

LAYER = "layer4"
HEAVY = ("scorecam", "smoothgrad", "occlusion")
CHUNK = 32  # Score-CAM masked images per forward pass, all three implementations


@dataclass
class Contender:
    """``run()`` explains the batch (timed); ``maps(run())`` gives [B, H, W] in wsol's
    convention; ``close()`` releases hooks."""

    run: Callable[[], object]
    maps: Callable[[object], torch.Tensor]
    close: Callable[[], None] = lambda: None


def low_res(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """[B, h, w] layer-resolution maps → wsol's [B, H, W] (bicubic, min-max)."""
    return scoremaps(torch.as_tensor(maps).detach().double(), size)[0]


def full_res(maps, reduce: str = "absmax") -> torch.Tensor:
    """[B, H, W] or [B, C, H, W] (``absmax``: max |.| over C; ``first``: channel 0) → min-max."""
    maps = torch.as_tensor(np.asarray(maps) if not isinstance(maps, torch.Tensor) else maps)
    maps = maps.detach().double()
    if maps.ndim == 4:
        maps = maps.abs().amax(dim=1) if reduce == "absmax" else maps[:, 0]
    return minmax_normalize(maps)[0]


# ----------------------------------------------------------------------------- wsol


# explainer → wsol class (its peers: `EXPLAINERS`)
WSOL = {
    "cam": cams.CAM,
    "gradcam": cams.GradCAM,
    "gradcampp": cams.GradCAMPlusPlus,
    "xgradcam": cams.XGradCAM,
    "layercam": cams.LayerCAM,
    "scorecam": cams.ScoreCAM,
    "saliency": cams.Saliency,
    "smoothgrad": cams.SmoothGrad,
    "guided_backprop": cams.GuidedBackprop,
    "deconvnet": cams.Deconvnet,
    "guided_gradcam": cams.GuidedGradCAM,
    "occlusion": cams.Occlusion,
}


def wsol(name: str, model, x, ids, args) -> Contender:
    settings = {
        "cam": {"fc_layer": "fc"},
        "scorecam": {"batch_size": CHUNK},
        "smoothgrad": {"samples": args.samples, "noise_level": 0.15},
        "occlusion": {"window": args.window, "stride": args.stride},
    }.get(name, {})
    if "target_layer" in inspect.signature(WSOL[name]).parameters:
        settings["target_layer"] = LAYER
    extractor = WSOL[name](model, **settings)
    return Contender(lambda: extractor(x, ids), lambda maps: maps)


# ----------------------------------------------------------------------------- peers


def pgc(cls_name: str):
    """A pytorch-grad-cam CAM class: ``cam(input_tensor, targets)`` → [B, H, W] numpy."""

    def make(name, model, x, ids, args) -> Contender:
        import pytorch_grad_cam
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

        cam = getattr(pytorch_grad_cam, cls_name)(model=model, target_layers=[model.layer4])
        if cls_name == "ScoreCAM":
            cam.batch_size = CHUNK
        targets = [ClassifierOutputTarget(int(c)) for c in ids]

        def close():
            # Its hooks (and the outputs it keeps, with their graph) live until released.
            cam.activations_and_grads.release()
            cam.outputs = None

        return Contender(lambda: cam(input_tensor=x, targets=targets), full_res, close)

    return make


def pgc_guided(name, model, x, ids, args) -> Contender:
    """pytorch-grad-cam's GuidedBackpropReLUModel: one image per call ([H, W, C] numpy). It
    swaps the model's ReLU modules (and leaves non-in-place ones behind): it gets a copy."""
    from pytorch_grad_cam import GuidedBackpropReLUModel

    guided = GuidedBackpropReLUModel(copy.deepcopy(model), device="cpu")

    def run():
        return [guided(x[i : i + 1].clone(), target_category=int(c)) for i, c in enumerate(ids)]

    return Contender(run, lambda out: full_res(np.stack(out).transpose(0, 3, 1, 2)))


def torchcam(cls_name: str):
    """A torchcam CAM class: forward pass, then ``extractor(class_idx, scores)`` → [[B, h, w]]."""

    def make(name, model, x, ids, args) -> Contender:
        import torchcam.methods

        kwargs = {"input_shape": tuple(x.shape[1:]), "batch_size": CHUNK}
        kwargs = kwargs if cls_name == "ScoreCAM" else {}
        if cls_name == "CAM":
            kwargs = {"fc_layer": "fc"}
        extractor = getattr(torchcam.methods, cls_name)(model, target_layer=LAYER, **kwargs)
        classes = [int(c) for c in ids]

        def run():
            with torch.set_grad_enabled(cls_name not in ("CAM", "ScoreCAM")):
                scores = model(x)
            maps = extractor(classes, scores)
            model.zero_grad(set_to_none=True)
            return maps

        size = tuple(x.shape[-2:])
        return Contender(run, lambda out: low_res(out[0], size), extractor.remove_hooks)

    return make


def captum(cls_name: str):
    """A captum attribution: ``Method(model[, layer]).attribute(x, target=ids, ...)``."""

    def make(name, model, x, ids, args) -> Contender:
        import captum.attr as ca

        size, target = tuple(x.shape[-2:]), ids.tolist()
        maps = full_res
        if cls_name == "LayerGradCam":
            method = ca.LayerGradCam(model, model.layer4)
            kwargs = {"relu_attributions": True}
            maps = lambda out: low_res(out[:, 0], size)  # noqa: E731
        elif cls_name == "GuidedGradCam":
            method, kwargs = ca.GuidedGradCam(model, model.layer4), {}
        elif cls_name == "NoiseTunnel":
            # wsol: sigma = noise_level x each image's value range; captum: one absolute sigma.
            sigma = 0.15 * float(x.amax() - x.amin())
            per_pass = max(1, 32 // len(x))  # wsol SmoothGrad's samples per pass
            method = ca.NoiseTunnel(ca.Saliency(model))
            kwargs = dict(nt_type="smoothgrad", nt_samples=args.samples, stdevs=sigma)
            kwargs.update(nt_samples_batch_size=per_pass, abs=True)
        elif cls_name == "Occlusion":
            method = ca.Occlusion(model)
            w, s, per_pass = args.window, args.stride, max(1, 64 // len(x))
            kwargs = dict(sliding_window_shapes=(3, w, w), strides=(3, s, s), baselines=0.0)
            kwargs.update(perturbations_per_eval=per_pass)
            maps = lambda out: full_res(out, reduce="first")  # noqa: E731
        else:
            method, kwargs = getattr(ca, cls_name)(model), {}

        def run():
            with torch.no_grad() if cls_name == "Occlusion" else torch.enable_grad():
                return method.attribute(x, target=target, **kwargs)

        return Contender(run, maps)

    return make


# explainer → {peer: (factory, note where the definitions differ)}
SAME = ""
EXPLAINERS: dict[str, dict[str, tuple[Callable, str]]] = {
    "cam": {"torchcam": (torchcam("CAM"), SAME)},
    "gradcam": {
        "pgc": (pgc("GradCAM"), "pgc: bilinear resize (cv2)"),
        "torchcam": (torchcam("GradCAM"), SAME),
        "captum": (captum("LayerGradCam"), SAME),
    },
    "gradcampp": {
        "pgc": (pgc("GradCAMPlusPlus"), "pgc: +1e-6 in alpha, bilinear"),
        "torchcam": (torchcam("GradCAMpp"), "torchcam: alpha = g^2 (div_ on a copy)"),
    },
    "xgradcam": {
        "pgc": (pgc("XGradCAM"), "pgc: +1e-7, bilinear"),
        "torchcam": (torchcam("XGradCAM"), "torchcam: +1e-8"),
    },
    "layercam": {
        "pgc": (pgc("LayerCAM"), "pgc: bilinear"),
        "torchcam": (torchcam("LayerCAM"), SAME),
    },
    "scorecam": {
        "pgc": (pgc("ScoreCAM"), "pgc: bilinear"),
        "torchcam": (torchcam("ScoreCAM"), SAME),
    },
    "saliency": {"captum": (captum("Saliency"), SAME)},
    "smoothgrad": {"captum": (captum("NoiseTunnel"), "different noise draws; one sigma")},
    "guided_backprop": {
        "captum": (captum("GuidedBackprop"), SAME),
        "pgc": (pgc_guided, "one image per call"),
    },
    "deconvnet": {"captum": (captum("Deconvolution"), SAME)},
    "guided_gradcam": {
        "captum": (captum("GuidedGradCam"), "captum: nearest upsampling, no min-max"),
    },
    "occlusion": {"captum": (captum("Occlusion"), SAME)},
}

# wall: what a user waits for; cpu: CPU seconds of this process (all threads), which a busy
# shared machine disturbs less.
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def pearson_min(a: torch.Tensor, b: torch.Tensor) -> float:
    """Smallest per-image Pearson correlation of two [B, H, W] map batches."""
    a, b = a.flatten(1).double(), b.flatten(1).double()
    a, b = a - a.mean(dim=1, keepdim=True), b - b.mean(dim=1, keepdim=True)
    return float(((a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))).min())


def bench(name: str, args) -> dict[str, tuple[float, float]]:
    """contender → (median seconds per image, parity with wsol's maps)."""
    batch = args.heavy_batch if name in HEAVY else args.batch
    torch.manual_seed(0)
    model = torchvision.models.get_model(args.arch, num_classes=1000).eval()
    x = torch.randn(batch, 3, args.size, args.size)
    ids = torch.randint(0, 1000, (batch,))
    makers = {"wsol": wsol, **{peer: make for peer, (make, _) in EXPLAINERS[name].items()}}
    times: dict[str, list[float]] = {contender: [] for contender in makers}
    maps: dict[str, torch.Tensor] = {}
    for contender, make in makers.items():
        run = make(name, model, x, ids, args)
        maps[contender] = run.maps(run.run())  # warm-up, and the maps for parity
        run.close()
        gc.collect()
    order = list(makers)
    for repeat in range(args.repeats):
        # Each repeat starts with another contender: none always runs first or last.
        for contender in order[repeat % len(order) :] + order[: repeat % len(order)]:
            run = makers[contender](name, model, x, ids, args)
            start = CLOCKS[args.clock]()
            run.run()
            times[contender].append((CLOCKS[args.clock]() - start) / batch)
            run.close()
            gc.collect()
    return {
        contender: (statistics.median(times[contender]), pearson_min(maps["wsol"], maps[contender]))
        for contender in makers
    }


def load() -> str:
    return "load " + " ".join(f"{v:.1f}" for v in os.getloadavg())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--methods", default="all", help=f"all or some of {','.join(EXPLAINERS)}")
    parser.add_argument("--arch", default="resnet50")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--heavy-batch", type=int, default=2, help=f"images for {HEAVY}")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--samples", type=int, default=10, help="SmoothGrad samples")
    parser.add_argument("--window", type=int, default=32, help="occlusion window")
    parser.add_argument("--stride", type=int, default=16, help="occlusion stride")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    names = list(EXPLAINERS) if args.methods == "all" else args.methods.split(",")
    unknown = sorted(set(names) - set(EXPLAINERS))
    if unknown:
        parser.error(f"unknown methods {unknown}; choose from {sorted(EXPLAINERS)}")
    print(
        f"{args.arch} at {args.size}x{args.size}, batch {args.batch} (heavy {args.heavy_batch}),"
        f" median of {args.repeats}, {args.clock} clock, torch {torch.__version__},"
        f" {torch.get_num_threads()} threads, {load()}"
    )
    print(f"{'explainer':<16} {'peer':<9} {'wsol s/img':>10} {'peer s/img':>10} {'peer/wsol':>9}"
          f" {'parity r':>9}  note")  # fmt: skip
    for name in names:
        results = bench(name, args)
        mine = results["wsol"][0]
        for peer, (_, note) in EXPLAINERS[name].items():
            seconds, parity = results[peer]
            print(
                f"{name:<16} {peer:<9} {mine:>10.4f} {seconds:>10.4f} {seconds / mine:>9.2f}"
                f" {parity:>9.4f}  {note}{'; ' if note else ''}{load()}",
                flush=True,
            )


if __name__ == "__main__":
    main()
