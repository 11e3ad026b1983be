"""A user's own images → wsolevaluation metadata.

Layout: ``ROOT/<class>/<image>``, class index = position of the folder name in sorted order.
Boxes are optional, from either or both of:

- a Pascal VOC XML file next to an image, same stem (``cat/001.jpg`` + ``cat/001.xml``; every
  ``<object>``'s ``<bndbox>``, coordinates taken as inclusive pixels, clipped to the image);
- one COCO-style JSON file: ``images`` (``id``, ``file_name`` relative to ROOT) and
  ``annotations`` (``image_id``, ``bbox`` = ``[x, y, w, h]`` → ``(x, y, x + w, y + h)``).

Every image goes to ``train`` unless a list file moves it to ``val`` (or ``test``); an image
without boxes is trained on but never scored (a listed one stays in ``train``), and the summary
counts them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from wsol.data.formats import convert as common
from wsol.data.formats.convert import Candidate, Summary, convert, fail
from wsol.data.formats.imagenet import read_voc_objects


def read_coco_boxes(path: Path) -> dict[str, list[tuple[int, int, int, int]]]:
    """``file_name -> boxes`` of a COCO-style JSON file (errors name the file and the entry)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as error:
        raise fail(path, error.lineno, f"not valid JSON ({error.msg})") from error
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise fail(path, None, "expected an object with an 'images' list")
    names = {}
    for i, image in enumerate(data["images"]):
        if not isinstance(image, dict) or "id" not in image or "file_name" not in image:
            raise fail(path, None, f"images[{i}]: needs 'id' and 'file_name'")
        names[image["id"]] = Path(image["file_name"]).as_posix()
    boxes: dict[str, list[tuple[int, int, int, int]]] = {name: [] for name in names.values()}
    for i, annotation in enumerate(data.get("annotations", [])):
        bbox = annotation.get("bbox") if isinstance(annotation, dict) else None
        if not isinstance(bbox, list) or len(bbox) != 4:
            raise fail(path, None, f"annotations[{i}]: 'bbox' must be [x, y, w, h]")
        if annotation.get("image_id") not in names:
            raise fail(
                path,
                None,
                f"annotations[{i}]: image_id {annotation.get('image_id')!r} is not in 'images'",
            )
        x, y, w, h = (common.number(path, None, str(v), f"annotations[{i}] bbox") for v in bbox)
        boxes[names[annotation["image_id"]]].append(common.xywh_box(x, y, w, h))
    return boxes


def folder_candidates(
    root: str | os.PathLike,
    coco: str | os.PathLike | None = None,
    exclude: str | os.PathLike | None = None,
) -> tuple[list[Candidate], list[tuple[str, str]], list[str]]:
    """(candidates, refused, sorted class names) of a class-folder tree; ``exclude`` (the
    converter's output folder, when it lies inside ``root``) is never a class folder."""
    root = Path(root)
    skip = Path(exclude).resolve() if exclude is not None else None
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and d.resolve() != skip)
    if not classes:
        raise FileNotFoundError(f"{root}: no class folder")
    coco_boxes = read_coco_boxes(Path(coco)) if coco is not None else {}
    candidates, seen = [], set()
    for label, cls in enumerate(classes):
        for image in common.image_files(root / cls):
            image_id = common.relative_id(image, root)
            seen.add(image_id)
            boxes = list(coco_boxes.get(image_id, []))
            voc = image.with_suffix(".xml")
            if voc.is_file():
                boxes += [box for _, box in read_voc_objects(voc)]
            candidates.append(Candidate(image_id, "train", label, boxes))
    refused = [
        (name, f"named in {coco} but not an image of a class folder under {root}")
        for name in sorted(set(coco_boxes) - seen)
    ]
    return candidates, refused, classes


def prepare_folder(
    root: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    coco: str | os.PathLike | None = None,
    test_list: str | os.PathLike | None = None,
    **options,
) -> Summary:
    """Convert a class-folder tree. ``options``: ``val_list``, ``workers``, ``progress`` of
    :func:`~wsol.data.formats.convert.convert`."""
    candidates, refused, classes = folder_candidates(root, coco, exclude=out_dir)
    if test_list is not None:
        listed = set(common.read_id_list(Path(test_list), {c.image_id: c for c in candidates}))
        for candidate in candidates:
            candidate.split = "test" if candidate.image_id in listed else candidate.split
    options.update(unscored_to_train=True, refused=refused, class_names=classes)
    return convert(candidates, out_dir, root, **options)
