"""Training-loader throughput: the wsol data module against a plain ImageFolder + PIL loader.

Both read the same JPEG folder with the protocol's training pipeline (Resize((256, 256)) →
RandomCrop(224) → flip → float → Normalize) into batches, in the same run:

- wsol: ``WSOLDataModule.train_dataloader()`` over the folder converted by
  ``prepare_folder`` (torchvision.io.decode_image, transforms.v2 on uint8 tensors, persistent
  workers);
- baseline: ``torchvision.datasets.ImageFolder`` (PIL decoding) with the classic
  ``torchvision.transforms`` on PIL images and ``ToTensor``.

Without ``--folder``, a folder of random photo-like JPEGs is written to a temporary directory.
Each loader makes ``--passes`` passes per worker count; the first batch of each pass (worker
start-up) is not timed. Prints images/s, images/s per worker (per process for 0 workers) and
the wsol/baseline ratio.

    python scripts/bench_data.py [--folder DIR] [--images 512] [--workers 0 1 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader
from torchvision import datasets
from torchvision import transforms as classic

from wsol.data.datamodule import WSOLDataModule
from wsol.data.formats.folder import prepare_folder
from wsol.data.transforms import IMAGENET_MEAN, IMAGENET_STD


def write_jpegs(root: Path, count: int, size: tuple[int, int], classes: int = 10) -> None:
    """Photo-like JPEGs (smooth colour fields plus noise), ``count`` over ``classes`` folders."""
    rng = np.random.default_rng(0)
    for index in range(count):
        coarse = rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)
        image = np.asarray(Image.fromarray(coarse).resize(size, Image.BICUBIC), dtype=np.int16)
        image = np.clip(image + rng.integers(-20, 20, image.shape), 0, 255).astype(np.uint8)
        folder = root / f"class{index % classes:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{index:06d}.jpg", quality=90)


def baseline_loader(folder: Path, workers: int, batch: int) -> DataLoader:
    transform = classic.Compose(
        [
            classic.Resize((256, 256)),
            classic.RandomCrop(224),
            classic.RandomHorizontalFlip(),
            classic.ToTensor(),
            classic.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )
    dataset = datasets.ImageFolder(str(folder), transform=transform)
    return DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=workers)


def wsol_loader(metadata: Path, folder: Path, workers: int, batch: int) -> DataLoader:
    module = WSOLDataModule(
        str(metadata), str(folder), batch_size=batch, num_workers=workers, pin_memory=False
    )
    return module.train_dataloader()


def images_per_second(loader: DataLoader, passes: int) -> float:
    """Images per second over ``passes`` passes, each without its first batch."""
    images, seconds = 0, 0.0
    for _ in range(passes):
        iterator = iter(loader)
        next(iterator)
        start = time.perf_counter()
        for batch in iterator:
            images += len(batch["images"] if isinstance(batch, dict) else batch[0])
        seconds += time.perf_counter() - start
    return images / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, help="ROOT/<class>/<image>.jpg (default: made up)")
    parser.add_argument("--images", type=int, default=512, help="images to make up")
    parser.add_argument("--size", default="500x375", help="made-up image size WxH")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--passes", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)  # one core per process, as in the loader workers
    with tempfile.TemporaryDirectory() as temp:
        folder = args.folder
        if folder is None:
            folder = Path(temp) / "jpegs"
            width, height = (int(v) for v in args.size.split("x"))
            write_jpegs(folder, args.images, (width, height))
        prepare_folder(folder, Path(temp) / "metadata", workers=0, progress=False)
        count = sum(1 for _ in folder.rglob("*.jpg"))
        print(f"{count} JPEGs in {folder}; batch {args.batch}; torch {torch.__version__}")
        print("workers | wsol img/s | per worker | ImageFolder+PIL img/s | per worker | ratio")
        for workers in args.workers:
            wsol = images_per_second(
                wsol_loader(Path(temp) / "metadata", folder, workers, args.batch), args.passes
            )
            base = images_per_second(baseline_loader(folder, workers, args.batch), args.passes)
            per = max(workers, 1)
            print(
                f"{workers:7d} | {wsol:10.1f} | {wsol / per:10.1f} | {base:21.1f} | "
                f"{base / per:10.1f} | {wsol / base:5.2f}x"
            )


if __name__ == "__main__":
    main()
