"""ILSVRC (ImageNet-1k) as distributed → wsolevaluation metadata (``train/``, ``test/``).

- Training images: class folders ``TRAIN_DIR/<wnid>/<image>`` (labels only; the benchmark does
  not ship this split's metadata, 1.28 M images).
- Validation images ``VAL_DIR/<name>.JPEG`` with VOC-style XML files ``XML_DIR/<name>.xml``
  (``<object><name>WNID</name><bndbox><xmin>..<ymax>``, several objects per image) become the
  protocol's ``test`` split, as in wsolevaluation (its ``val`` is ImageNetV2; carve one with a
  list file if needed).

Class index = position of the WNID in sorted order (never the devkit's ILSVRC2012_ID order).
Image ids are relative to the folder holding both image folders (the data root). Box
coordinates are taken as inclusive pixels as written, clipped to the image.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from wsol.data.formats.convert import (
    Candidate,
    Summary,
    convert,
    fail,
    image_files,
    number,
    relative_id,
)


def read_voc_objects(path: Path) -> list[tuple[str, tuple[int, int, int, int]]]:
    """(class name, inclusive box) of every ``<object>`` of a Pascal VOC / ILSVRC XML file."""
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as error:
        line = error.position[0] if error.position else None
        raise fail(path, line, f"not valid XML ({error})") from error
    objects = []
    for index, element in enumerate(root.iter("object"), start=1):
        name = (element.findtext("name") or "").strip()
        box = element.find("bndbox")
        if not name or box is None:
            raise fail(path, None, f"object {index} lacks <name> or <bndbox>")
        coords = []
        for key in ("xmin", "ymin", "xmax", "ymax"):
            text = box.findtext(key)
            if text is None:
                raise fail(path, None, f"object {index}: <bndbox> has no <{key}>")
            coords.append(int(number(path, None, text.strip(), f"object {index} <{key}>")))
        if coords[0] > coords[2] or coords[1] > coords[3]:
            reason = f"object {index}: box {tuple(coords)} has xmin > xmax or ymin > ymax"
            raise fail(path, None, reason)
        objects.append((name, tuple(coords)))
    return objects


def _image_for(stem: str, folder: Path) -> Path | None:
    for suffix in (".JPEG", ".jpeg", ".jpg", ".JPG", ".png", ".PNG"):
        if (folder / f"{stem}{suffix}").is_file():
            return folder / f"{stem}{suffix}"
    return None


def imagenet_candidates(
    train_dir: str | os.PathLike | None,
    val_images: str | os.PathLike | None,
    val_boxes: str | os.PathLike | None,
) -> tuple[list[Candidate], Path, list[tuple[str, str]], list[str]]:
    """(candidates, data root, refused, sorted WNIDs) of an ILSVRC layout."""
    if val_images is None and train_dir is None:
        raise ValueError("give --train and/or --val-images with --val-boxes")
    if (val_images is None) != (val_boxes is None):
        raise ValueError("--val-images and --val-boxes go together")
    folders = [Path(p).absolute() for p in (train_dir, val_images) if p is not None]
    data_root = Path(os.path.commonpath([str(f.parent) for f in folders]))
    xml_files = sorted(Path(val_boxes).glob("*.xml")) if val_boxes is not None else []
    parsed = {path: read_voc_objects(path) for path in xml_files}
    if train_dir is not None:
        wnids = sorted(d.name for d in Path(train_dir).iterdir() if d.is_dir())
    else:
        wnids = sorted({name for objects in parsed.values() for name, _ in objects})
    index = {wnid: i for i, wnid in enumerate(wnids)}
    candidates, refused = [], []
    for wnid in wnids if train_dir is not None else ():
        for image in image_files(Path(train_dir) / wnid):
            candidates.append(Candidate(relative_id(image, data_root), "train", index[wnid]))
    described = set()
    for path, objects in parsed.items():
        image = _image_for(path.stem, Path(val_images))
        if image is None:
            refused.append((path.stem, f"image file not found in {val_images} (boxes: {path})"))
            continue
        described.add(image.name)
        image_id = relative_id(image, data_root)
        names = sorted({name for name, _ in objects})
        if len(names) != 1:
            reason = "no object" if not names else f"objects of several classes {names}"
            refused.append((image_id, f"{reason} in {path.name}"))
        elif names[0] not in index:
            refused.append((image_id, f"class {names[0]} is not a training class folder"))
        else:
            boxes = [box for _, box in objects]
            candidates.append(Candidate(image_id, "test", index[names[0]], boxes))
    for image in image_files(Path(val_images)) if val_images is not None else ():
        if image.name not in described:
            refused.append((relative_id(image, data_root), f"no {image.stem}.xml in {val_boxes}"))
    return candidates, data_root, refused, wnids


def prepare_imagenet(
    out_dir: str | os.PathLike,
    *,
    train_dir: str | os.PathLike | None = None,
    val_images: str | os.PathLike | None = None,
    val_boxes: str | os.PathLike | None = None,
    **options,
) -> Summary:
    """Convert ILSVRC folders (``class_names.txt``: the sorted WNIDs). ``options``:
    ``val_list``, ``workers``, ``progress`` of :func:`~wsol.data.formats.convert.convert`."""
    candidates, data_root, refused, wnids = imagenet_candidates(train_dir, val_images, val_boxes)
    return convert(candidates, out_dir, data_root, refused=refused, class_names=wnids, **options)
