"""The synthetic benchmark's side file of part boxes, ``parts.txt``, for analysis scripts.

One line per object: ``path,instance_index,x0,y0,x1,y1`` (inclusive pixels of the original
image; instance k is the k-th box of the image in ``localization.txt``). In the no-part
control the boxes say where the part would have been drawn. The metadata reader ignores it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from wsol.data.records import Box

FILENAME = "parts.txt"


def write_parts(parts: Iterable[tuple[str, Sequence[Box]]], metadata_dir: Path) -> None:
    """Write ``(image_id, [part box per instance])`` pairs to ``metadata_dir/parts.txt``."""
    lines = [
        ",".join([image_id, str(k), *map(str, box)]) + "\n"
        for image_id, boxes in parts
        for k, box in enumerate(boxes)
    ]
    Path(metadata_dir, FILENAME).write_text("".join(lines), encoding="utf-8")


def read_parts(metadata_dir: str | os.PathLike) -> dict[str, list[Box]]:
    """Part boxes per image id, in instance order.

    Raises:
        FileNotFoundError: no ``parts.txt`` in the folder.
        ValueError: ``<file>:<line>: <reason>`` for a malformed line or an instance index out
            of order.
    """
    path = Path(metadata_dir, FILENAME)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: parts file not found")
    parts: dict[str, list[Box]] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            fields = line.rstrip("\r\n").split(",")
            if len(fields) != 6:
                raise ValueError(
                    f"{path}:{number}: expected 6 fields (path,instance_index,x0,y0,x1,y1), "
                    f"got {len(fields)}"
                )
            try:
                index, *box = (int(v) for v in fields[1:])
            except ValueError as error:
                raise ValueError(f"{path}:{number}: non-integer field ({error})") from error
            boxes = parts.setdefault(fields[0], [])
            if index != len(boxes):
                raise ValueError(f"{path}:{number}: instance index {index}, expected {len(boxes)}")
            boxes.append(tuple(box))
    return parts
