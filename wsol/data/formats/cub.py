"""CUB-200-2011 as distributed → wsolevaluation metadata (``train/``, ``test/``, optional ``val/``).

Original files under the CUB root (whitespace-separated, 1-based image ids):
``images.txt`` (``id path``, paths under ``images/``), ``bounding_boxes.txt`` (``id x y w h``,
floats), ``image_class_labels.txt`` (``id class`` in 1..200), ``train_test_split.txt``
(``id 1|0``, 1 = train). Boxes become ``(x, y, x + w, y + h)`` in integers (clipped to the
image), classes ``class - 1``; image ids are the paths under ``images/`` (the data root).
"""

from __future__ import annotations

import os
from pathlib import Path

from wsol.data.formats.convert import Candidate, Summary, convert, fail, number, table, xywh_box


def _by_id(path: Path, names: tuple[str, ...]) -> dict[int, tuple[int, list[str]]]:
    """``id -> (line, other fields)`` of a CUB annotation file; duplicate ids are errors."""
    rows: dict[int, tuple[int, list[str]]] = {}
    for line, fields in table(path, names):
        image_id = int(number(path, line, fields[0], "image id", int))
        if image_id in rows:
            first = rows[image_id][0]
            raise fail(path, line, f"duplicate image id {image_id} (first on line {first})")
        rows[image_id] = (line, fields[1:])
    return rows


def cub_candidates(cub_root: str | os.PathLike, num_classes: int = 200) -> list[Candidate]:
    """The images of a CUB root with their split, 0-based class and box."""
    root = Path(cub_root)
    images = _by_id(root / "images.txt", ("id", "path"))
    boxes = _by_id(root / "bounding_boxes.txt", ("id", "x", "y", "w", "h"))
    labels = _by_id(root / "image_class_labels.txt", ("id", "class"))
    splits = _by_id(root / "train_test_split.txt", ("id", "is_train"))
    for name, rows in (
        ("bounding_boxes.txt", boxes),
        ("image_class_labels.txt", labels),
        ("train_test_split.txt", splits),
    ):
        for image_id, (line, _) in rows.items():
            if image_id not in images:
                raise fail(root / name, line, f"image id {image_id} is not in images.txt")
        for image_id, (line, _) in images.items():
            if image_id not in rows:
                raise fail(root / "images.txt", line, f"image id {image_id} has no line in {name}")
    candidates = []
    for image_id, (_, (path,)) in images.items():
        label_line, (text,) = labels[image_id]
        label = int(number(root / "image_class_labels.txt", label_line, text, "class", int))
        if not 1 <= label <= num_classes:
            reason = f"class {label} not in 1..{num_classes}"
            raise fail(root / "image_class_labels.txt", label_line, reason)
        split_line, (flag,) = splits[image_id]
        if flag not in ("0", "1"):
            raise fail(root / "train_test_split.txt", split_line, f"expected 1 or 0, got {flag!r}")
        box_line, values = boxes[image_id]
        box_file = root / "bounding_boxes.txt"
        x, y, w, h = (number(box_file, box_line, v, n) for v, n in zip(values, "xywh", strict=True))
        if w < 0 or h < 0:
            raise fail(box_file, box_line, f"negative box size {w}x{h}")
        candidates.append(
            Candidate(
                image_id=Path(path.strip()).as_posix(),
                split="train" if flag == "1" else "test",
                label=label - 1,
                boxes=[xywh_box(x, y, w, h)],
            )
        )
    return candidates


def prepare_cub(
    cub_root: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    num_classes: int = 200,
    **options,
) -> Summary:
    """Convert a CUB-200-2011 root; the data root of the metadata is ``<cub_root>/images``
    (``class_names.txt`` from ``classes.txt`` when present). ``options``: ``val_list``,
    ``workers``, ``progress`` of :func:`~wsol.data.formats.convert.convert`."""
    candidates = cub_candidates(cub_root, num_classes)
    names_path = Path(cub_root) / "classes.txt"
    names = None
    if names_path.is_file():
        rows = sorted(_by_id(names_path, ("id", "name")).items())
        names = [fields[0] for _, (_, fields) in rows]
    return convert(candidates, out_dir, Path(cub_root) / "images", class_names=names, **options)
