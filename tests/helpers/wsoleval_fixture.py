"""Tiny data sets in the wsolevaluation metadata format, and torchvision-format weight files.

``write_wsoleval(root, masks, short_val)`` writes train/val/test splits of small PNGs (boxes,
or OpenImages-style instance + ignore masks), a train ``image_ids_proxy.txt`` (ImageNet's proxy
training set) and returns the three roots; ``short_val`` gives the last class only that many
val images (the benchmark's CUBV2 val has 3 images of class 58).
``torchvision_weights(name, path)`` saves a state dict shaped like torchvision's file for a
backbone (random values, one tensor marked) without any download.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image

SPLIT_SIZES = {"train": 4, "val": 10, "test": 2}  # images per class
NUM_CLASSES = 2
IMAGE_SIZE = (40, 30)  # width, height


def write_wsoleval(
    root: Path,
    masks: bool = False,
    short_val: int | None = None,
    sizes: dict[str, int] | None = None,
) -> tuple[Path, Path, Path]:
    """Write the splits under ``root``; returns (metadata_root, data_root, mask_root).

    Args:
        root: folder to write into.
        masks: OpenImages-style masks instead of boxes.
        short_val: val images of the last class (default: as many as the others).
        sizes: images per class of each split (default ``SPLIT_SIZES``).
    """
    rng = np.random.default_rng(0)
    meta, data, mask_root = root / "metadata", root / "images", root / "masks"
    width, height = IMAGE_SIZE
    for split, per_class in (sizes or SPLIT_SIZES).items():
        (meta / split).mkdir(parents=True)
        (data / split).mkdir(parents=True)
        (mask_root / split).mkdir(parents=True)
        ids, labels, sizes, loc = [], [], [], []
        for label in range(NUM_CLASSES):
            count = per_class
            if split == "val" and short_val is not None and label == NUM_CLASSES - 1:
                count = short_val
            for index in range(count):
                image_id = f"{split}/c{label}_{index}.png"
                pixels = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(data / image_id)
                ids.append(image_id)
                labels.append(f"{image_id},{label}")
                sizes.append(f"{image_id},{width},{height}")
                if masks:
                    stem = image_id[: -len(".png")]
                    instance = np.zeros((height, width), dtype=np.uint8)
                    instance[5:20, 8:30] = 255
                    Image.fromarray(instance).save(mask_root / f"{stem}_m0.png")
                    Image.fromarray(np.zeros((height, width, 3), np.uint8)).save(
                        mask_root / f"{stem}_ignore.png"
                    )
                    loc.append(f"{image_id},{stem}_m0.png,{stem}_ignore.png")
                else:
                    loc.append(f"{image_id},8,5,29,19")
        files = {
            "image_ids": ids,
            "class_labels": labels,
            "image_sizes": sizes,
            "localization": loc,
        }
        if split == "train":
            files["image_ids_proxy"] = ids[::2]
        for stem, lines in files.items():
            (meta / split / f"{stem}.txt").write_text("\n".join(lines) + "\n")
    return meta, data, mask_root


def torchvision_state_dict(name: str) -> dict[str, torch.Tensor]:
    """A state dict with the keys and shapes of torchvision's ImageNet file for ``name``.

    VGG16 leaves out the 123M-parameter ``classifier`` (the backbone drops it anyway).
    """
    if name == "vgg16":
        features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"])
        return {f"features.{k}": v for k, v in features.state_dict().items()}
    if name == "resnet50":
        return torchvision.models.resnet50(weights=None).state_dict()
    if name == "inception_v3":
        model = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
        return model.state_dict()
    raise ValueError(name)


#: One tensor per file set to a known value, to check that the file was loaded.
MARKED = {
    "vgg16": "features.0.weight",
    "resnet50": "conv1.weight",
    "inception_v3": "Conv2d_1a_3x3.conv.weight",
}
MARK = 0.125


def torchvision_weights(name: str, path: Path) -> Path:
    """Save ``torchvision_state_dict(name)`` with ``MARKED[name]`` filled with ``MARK``."""
    state = torchvision_state_dict(name)
    state[MARKED[name]].fill_(MARK)
    torch.save(state, path)
    return path
