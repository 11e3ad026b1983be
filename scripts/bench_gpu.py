"""GPU throughput of the real backbones: training and evaluation images/s per precision, memory
layout and ``torch.compile``, and JPEG decoding on the GPU against decoding in loader workers.

For each backbone (at 224 px by default: every backbone of the registry but the synthetic
benchmark's ``tiny`` CPU net, i.e. VGG16, ResNet18/50, InceptionV3, ViT-B/16 and, when timm is
installed, ``timm`` and ``timm_vit`` with their configs' models; ``--backbones`` takes any
registered name, ``name:model`` choosing a timm model) and each combination of
``--precisions`` (``fp32``, ``bf16-mixed``), ``--channels-last`` (off/on) and ``--compile``
(off/on) it times

- **train**: a CAM network's step as ``wsol-train`` runs it (forward, loss, backward, SGD step),
  on fixed random batches already on the device;
- **eval**: the evaluation step as validation/test run it (forward, GT-class CAMs, the one CAM
  pipeline's upsampling and min-max normalization, ``WSOLMetrics.update``: MaxBoxAccV2,
  MaxBoxAcc, top-1/GT-known loc and PxAP), plus one ``compute()`` per pass.

Then it times decoding of a folder of JPEGs into normalized [B, 3, S, S] batches on the device:
**workers** (``wsol.data.decode.read_image_tensor`` + resize in ``--workers`` DataLoader
processes, batches copied to the device) against **gpu** (the workers only read the file bytes;
``torchvision.io.decode_jpeg(device="cuda")`` decodes the batch, the resize runs on the GPU).

Images/s are images over the median step time of ``--steps`` timed steps after ``--warmup``
untimed ones (compilation happens there). Without CUDA the script says so and runs every code
path on the CPU: those numbers are not GPU figures.

    python scripts/bench_gpu.py                          # CUDA: the full table at 224 px
    python scripts/bench_gpu.py --backbones resnet50 --precisions bf16-mixed --compile on
    python scripts/bench_gpu.py --backbones timm:convnext_tiny timm_vit:deit_base_patch16_224
    python scripts/bench_gpu.py --dry-run                # CPU, 64 px, 2 steps: code paths only
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader
from torchvision.io import decode_jpeg
from torchvision.transforms.v2 import functional as TF

from wsol.cams.pipeline import scoremaps
from wsol.configuration.compose import compose_config
from wsol.data.decode import read_image_tensor
from wsol.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from wsol.metrics.collection import WSOLMetrics
from wsol.models.registry import registered

PRECISIONS = {"fp32": None, "bf16-mixed": torch.bfloat16}
NO_CUDA_NOTE = (
    "NOTE: CUDA is not available: every code path runs on the CPU and the images/s below are "
    "CPU figures, not the GPU benchmark. Run this script on a CUDA machine for GPU numbers."
)


#: Registered backbones that are not benchmark networks (the synthetic benchmark's CPU net).
NOT_BENCHMARKED = ("tiny",)


def default_backbones() -> list[str]:
    """Every registered backbone but :data:`NOT_BENCHMARKED` (timm's when timm is installed)."""
    return [name for name in registered() if name not in NOT_BENCHMARKED]


def build_method(backbone: str, num_classes: int, overrides: list[str]) -> torch.nn.Module:
    """The CAM network of ``wsol-train backbone=<name> method=cam`` (random weights).

    ``backbone`` is a registry name, or ``name:model`` (``backbone.model_name=model``, the
    timm model of ``timm`` / ``timm_vit``; their configs' model otherwise).
    """
    from hydra.utils import instantiate

    name, _, model = backbone.partition(":")
    cfg = compose_config(
        "train",
        [
            f"backbone={name}",
            "method=cam",
            "backbone.pretrained=false",
            f"data.preparer.num_classes={num_classes}",
            *([f"backbone.model_name={model}"] if model else []),
            *overrides,
        ],
    )
    return instantiate(cfg.method)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(step, steps: int, warmup: int, device: torch.device) -> float:
    """Median seconds of ``step()`` over ``steps`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        sync(device)
        start = time.perf_counter()
        step()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def autocast(device: torch.device, precision: str):
    dtype = PRECISIONS[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def prepare(method, device, channels_last: bool, compile_: bool, backend: str):
    """(module to call, memory format) of one variant; the method itself stays uncompiled."""
    layout = torch.channels_last if channels_last else torch.contiguous_format
    method = method.to(device=device, memory_format=layout)
    runner = torch.compile(method, backend=backend) if compile_ else method
    return runner, layout


def train_images_per_s(method, args, device, precision, channels_last, compile_) -> float:
    runner, layout = prepare(method, device, channels_last, compile_, args.compile_backend)
    method.train()
    optimizer = torch.optim.SGD(method.parameters(), lr=1e-3, momentum=0.9)
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(args.batch, 3, args.size, args.size, generator=generator)
    images = images.to(device).contiguous(memory_format=layout)
    labels = torch.randint(0, args.classes, (args.batch,), generator=generator).to(device)

    def step() -> None:
        with autocast(device, precision):
            output = runner(images, labels)
            loss = method.loss(output, labels)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return args.batch / timed(step, args.steps, args.warmup, device)


def eval_batch(args, generator: torch.Generator) -> dict:
    """Random eval targets in the frame: one box per image, a 0/1 mask per image."""
    size, batch = args.size, args.eval_batch
    corners = torch.randint(0, size // 2, (batch, 2), generator=generator)
    extents = torch.randint(4, size // 2, (batch, 2), generator=generator)
    boxes = [torch.cat([c, c + e]).reshape(1, 4) for c, e in zip(corners, extents, strict=True)]
    masks = (torch.rand(batch, size, size, generator=generator) > 0.5).to(torch.uint8)
    return {"gt_boxes": boxes, "gt_masks": masks}


def eval_images_per_s(method, args, device, precision, channels_last, compile_) -> float:
    runner, layout = prepare(method, device, channels_last, compile_, args.compile_backend)
    method.eval()
    generator = torch.Generator().manual_seed(1)
    images = torch.randn(args.eval_batch, 3, args.size, args.size, generator=generator)
    images = images.to(device).contiguous(memory_format=layout)
    labels = torch.randint(0, args.classes, (args.eval_batch,), generator=generator).to(device)
    targets = eval_batch(args, generator)
    gt_masks = targets["gt_masks"].to(device)
    gt_boxes = [box.to(device) for box in targets["gt_boxes"]]
    metrics = WSOLMetrics(with_masks=True).to(device)

    def step() -> None:
        with torch.inference_mode(), autocast(device, precision):
            output = runner(images, labels)
            cams = method.cams(output, labels)
        maps, _ = scoremaps(cams.float(), (args.size, args.size))
        metrics.update(maps, gt_boxes, labels, output.logits.float(), gt_masks=gt_masks)

    seconds = timed(step, args.steps, args.warmup, device)
    sync(device)
    start = time.perf_counter()
    metrics.compute()  # once per evaluation pass, spread over the pass's batches
    sync(device)
    per_pass = (time.perf_counter() - start) / max(args.steps + args.warmup, 1)
    return args.eval_batch / (seconds + per_pass)


def model_table(args, device: torch.device) -> None:
    print(
        f"\nTraining and evaluation images/s at {args.size} px (train batch {args.batch}, eval "
        f"batch {args.eval_batch}, median of {args.steps} steps after {args.warmup} warm-up; "
        f"compile backend {args.compile_backend}):"
    )
    width = max(14, *(len(b) + 2 for b in args.backbones))
    header = f"  {'backbone':<{width}}{'precision':<12}{'layout':<15}{'compile':<9}"
    print(f"{header}{'train img/s':>12}{'eval img/s':>12}")
    for backbone in args.backbones:
        method = build_method(backbone, args.classes, args.overrides)
        variants = itertools.product(args.precisions, args.channels_last, args.compile)
        for precision, layout, compile_ in variants:
            channels_last, compiled = layout == "on", compile_ == "on"
            torch._dynamo.reset()
            train = train_images_per_s(method, args, device, precision, channels_last, compiled)
            torch._dynamo.reset()
            evaluate = eval_images_per_s(method, args, device, precision, channels_last, compiled)
            name = "channels_last" if channels_last else "contiguous"
            print(
                f"  {backbone:<{width}}{precision:<12}{name:<15}{compile_:<9}"
                f"{train:12.1f}{evaluate:12.1f}",
                flush=True,
            )
        del method
        if device.type == "cuda":
            torch.cuda.empty_cache()


# ----------------------------------------------------------------------------- decoding
def write_jpegs(root: Path, count: int, size: tuple[int, int]) -> list[Path]:
    """Photo-like JPEGs (smooth colour fields plus noise) of ``size`` (width, height)."""
    rng = np.random.default_rng(0)
    paths = []
    for index in range(count):
        coarse = rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)
        image = np.asarray(Image.fromarray(coarse).resize(size, Image.BICUBIC), dtype=np.int16)
        image = np.clip(image + rng.integers(-20, 20, image.shape), 0, 255).astype(np.uint8)
        paths.append(root / f"{index:06d}.jpg")
        Image.fromarray(image).save(paths[-1], quality=90)
    return paths


class DecodedImages(torch.utils.data.Dataset):
    """Worker decoding: libjpeg-turbo in the worker, resized there (uint8 [3, S, S])."""

    def __init__(self, paths: list[Path], size: int) -> None:
        self.paths, self.size = paths, size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        image = read_image_tensor(self.paths[index])
        return TF.resize(image, [self.size, self.size], antialias=True)


class FileBytes(torch.utils.data.Dataset):
    """GPU decoding: the worker only reads the file (the encoded bytes, uint8 [N]).

    Returned as numpy arrays: plain pickles through the worker queue (tensors would travel as
    shared-memory file descriptors, one per file, which a batch of hundreds exhausts).
    """

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> np.ndarray:
        return np.frombuffer(self.paths[index].read_bytes(), dtype=np.uint8)


def normalize(batch: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(IMAGENET_MEAN, device=batch.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=batch.device).view(1, 3, 1, 1)
    return (batch.float() / 255 - mean) / std


def decode_pass(loader: DataLoader, to_batch, device: torch.device) -> float:
    """Images/s of one pass; the first batch (worker start-up) is not timed."""
    count, start = 0, None
    for index, batch in enumerate(loader):
        images = to_batch(batch)
        sync(device)
        if index == 0:
            start = time.perf_counter()
            continue
        count += images.shape[0]
    sync(device)
    if start is None or count == 0:
        return float("nan")
    return count / (time.perf_counter() - start)


def decode_table(args, device: torch.device) -> None:
    gpu = device.type == "cuda"
    print(
        f"\nJPEG decoding into normalized {args.size}-px batches of {args.eval_batch} on "
        f"{device.type} ({args.decode_images} images of {args.jpeg_size[0]}x"
        f"{args.jpeg_size[1]}, {args.workers} workers, images/s):"
    )
    if not gpu:
        print("  (no CUDA: the 'gpu' row runs decode_jpeg on the CPU to check its code path)")
    with tempfile.TemporaryDirectory() as folder:
        paths = write_jpegs(Path(folder), args.decode_images, tuple(args.jpeg_size))
        common = {"batch_size": args.eval_batch, "num_workers": args.workers}
        if args.workers > 0:
            common["persistent_workers"] = True
        workers = DataLoader(DecodedImages(paths, args.size), **common)

        def from_workers(batch: torch.Tensor) -> torch.Tensor:
            return normalize(batch.to(device, non_blocking=True))

        def on_device(batch: list[np.ndarray]) -> torch.Tensor:
            encoded = [torch.from_numpy(data.copy()) for data in batch]
            decoded = decode_jpeg(encoded, device=device)
            resized = [
                TF.resize(image, [args.size, args.size], antialias=True) for image in decoded
            ]
            return normalize(torch.stack(resized))

        files = DataLoader(FileBytes(paths), collate_fn=list, **common)
        for name, loader, to_batch in (
            ("workers", workers, from_workers),
            ("gpu" if gpu else "gpu (on cpu)", files, on_device),
        ):
            rates = [decode_pass(loader, to_batch, device) for _ in range(args.passes)]
            print(f"  {name:<14}{max(rates):10.1f}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda if present)")
    parser.add_argument(
        "--backbones",
        nargs="+",
        default=None,
        help="registry names or name:model (default: every registered backbone but tiny)",
    )
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32, help="training batch")
    parser.add_argument("--eval-batch", type=int, default=64)
    parser.add_argument("--classes", type=int, default=200)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--precisions", nargs="+", default=list(PRECISIONS), choices=PRECISIONS)
    parser.add_argument("--channels-last", nargs="+", default=["off", "on"], choices=["off", "on"])
    parser.add_argument("--compile", nargs="+", default=["off", "on"], choices=["off", "on"])
    parser.add_argument(
        "--compile-backend", default="inductor", help="torch.compile backend (eager: trace only)"
    )
    parser.add_argument("--decode-images", type=int, default=512)
    parser.add_argument("--jpeg-size", type=int, nargs=2, default=[500, 375], metavar=("W", "H"))
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--skip-decode", action="store_true")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="every code path on the CPU at 64 px, batch 2, 2 steps (no timing worth reading; "
        "compile with the eager backend)",
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of the network config")
    args = parser.parse_args(argv)
    args.backbones = args.backbones or default_backbones()
    if args.dry_run:
        args.device, args.size, args.batch, args.eval_batch = "cpu", 64, 2, 2
        args.steps, args.warmup, args.passes, args.workers = 2, 1, 1, 1
        args.decode_images, args.jpeg_size = 6, [80, 60]
        args.compile_backend = "eager"
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        print(f"device: {torch.cuda.get_device_name(device)}; torch {torch.__version__}")
    else:
        print(NO_CUDA_NOTE)
        print(f"device: CPU, {torch.get_num_threads()} threads; torch {torch.__version__}")
    model_table(args, device)
    if not args.skip_decode:
        decode_table(args, device)


if __name__ == "__main__":
    main()
