"""Reader and writer of the wsolevaluation metadata format (one folder per split).

Files, comma-separated, no header, paths relative to the data root:

- ``image_ids.txt``: ``path`` (the image id; defines the split's order)
- ``class_labels.txt``: ``path,label``
- ``image_sizes.txt``: ``path,w,h`` (may be absent or empty, as in wsolevaluation's OpenImages:
  then each size is read from the image's header, or for mask data scored without the images
  from the first mask's header, when first needed and cached; never all files up front)
- ``localization.txt``: box lines ``path,x0,y0,x1,y1`` (inclusive pixels, one line per box)
  and/or mask lines ``path,mask_png,ignore_png`` (one per instance; only an image's first mask
  line names the ignore mask, later lines leave the third field empty). Mask paths are
  relative to the mask root.

Every problem is reported as ``<file>:<line>: <reason>`` (or ``<file>: <reason>`` for a whole
file) so a bad data set is fixed at its source rather than discovered mid-training.
"""

from __future__ import annotations

import codecs
import io
import os
import posixpath
import re
from collections.abc import Iterable, Iterator
from pathlib import Path, PureWindowsPath

from wsol.data.records import Box, ImageRecord, SplitMetadata

_INT = re.compile(r"[+-]?\d+")
FILES = ("image_ids.txt", "class_labels.txt", "image_sizes.txt", "localization.txt")


def _fail(path: Path, line: int | None, reason: str) -> ValueError:
    return ValueError(f"{path}:{line}: {reason}" if line is not None else f"{path}: {reason}")


def _lines(path: Path, required: bool = True) -> Iterator[tuple[int, list[str]]]:
    """(1-based line number, comma-separated fields) of each non-blank line.

    UTF-8, with or without the byte-order mark some editors write; any other byte is an error
    naming the file, the line and the byte.
    """
    if not path.is_file():
        if required:
            raise FileNotFoundError(f"{path}: metadata file not found")
        return
    data = path.read_bytes()
    data = data[len(codecs.BOM_UTF8) :] if data.startswith(codecs.BOM_UTF8) else data
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise _fail(path, line, f"not UTF-8 (byte 0x{data[error.start]:02x})") from None
    for number, line in enumerate(io.StringIO(text, newline=None), start=1):
        line = line.rstrip("\r\n")
        if line.strip():
            yield number, line.split(",")


def inside_root(path: Path, line: int | None, text: str, what: str) -> str:
    """``text``, a path relative to a root, normalized (``./a//b`` → ``a/b``); an absolute path
    or one that leaves the root (``..``) is refused naming file and line."""
    if not text.strip():
        raise _fail(path, line, f"empty {what}")
    if text.startswith(("/", "\\")) or PureWindowsPath(text).drive or os.path.isabs(text):
        raise _fail(path, line, f"{what} {text!r} is absolute: it must be relative to its root")
    normalized = posixpath.normpath(text)
    if normalized == ".." or normalized.startswith("../") or normalized == ".":
        raise _fail(path, line, f"{what} {text!r} leaves its root (no '..')")
    return normalized


def _int(path: Path, line: int, text: str, what: str) -> int:
    if not _INT.fullmatch(text.strip()):
        raise _fail(path, line, f"{what} is not an integer: {text!r}")
    return int(text)


def _expect(path: Path, line: int, fields: list[str], count: int, layout: str) -> None:
    if len(fields) != count:
        raise _fail(path, line, f"expected {count} fields ({layout}), got {len(fields)}")


def _read_ids(path: Path) -> dict[str, int]:
    ids: dict[str, int] = {}
    for line, fields in _lines(path):
        _expect(path, line, fields, 1, "path")
        image_id = inside_root(path, line, fields[0], "image id")
        if image_id in ids:
            first = ids[image_id]
            same = "" if image_id == fields[0] else f" once normalized to {image_id!r}"
            raise _fail(
                path, line, f"duplicate image id {fields[0]!r}{same} (first on line {first})"
            )
        ids[image_id] = line
    if not ids:
        raise _fail(path, None, "empty split (no image ids)")
    return ids


def _read_keyed(path: Path, ids: dict[str, int], count: int, layout: str) -> dict[str, tuple]:
    """Lines ``path,<ints...>`` of a per-image file: one line per known id."""
    values: dict[str, tuple] = {}
    names = layout.split(",")[1:]
    for line, fields in _lines(path):
        _expect(path, line, fields, count, layout)
        image_id = inside_root(path, line, fields[0], "image id")
        if image_id not in ids:
            raise _fail(path, line, f"image {image_id!r} is not in image_ids.txt")
        if image_id in values:
            raise _fail(path, line, f"duplicate line for image {image_id!r}")
        values[image_id] = tuple(
            (_int(path, line, text, name), line)
            for text, name in zip(fields[1:], names, strict=True)
        )
    return values


def _check_complete(ids_path: Path, ids: dict[str, int], values: dict, other: str) -> None:
    for image_id, line in ids.items():
        if image_id not in values:
            raise _fail(ids_path, line, f"image {image_id!r} has no line in {other}")


def _read_sizes(metadata_dir: Path, ids: dict[str, int]) -> dict[str, tuple[int, int]]:
    """Sizes from image_sizes.txt; {} when it is absent or empty (wsolevaluation ships OpenImages
    so): the records then read each size from a file header when it is first needed."""
    path = metadata_dir / "image_sizes.txt"
    if not path.is_file():
        return {}
    sizes = {}
    for image_id, ((width, line), (height, _)) in _read_keyed(path, ids, 3, "path,w,h").items():
        if width <= 0 or height <= 0:
            raise _fail(path, line, f"image size must be positive, got {width}x{height}")
        sizes[image_id] = (width, height)
    if sizes:
        _check_complete(metadata_dir / "image_ids.txt", ids, sizes, "image_sizes.txt")
    return sizes


class _Localization:
    """Boxes and mask paths of each image, with the line that introduced them."""

    def __init__(self) -> None:
        self.boxes: dict[str, list[Box]] = {}
        self.masks: dict[str, list[tuple[str, int]]] = {}
        self.ignore: dict[str, tuple[str, int] | None] = {}
        self.first_line: dict[str, int] = {}


def _read_localization(
    path: Path, ids: dict[str, int], sizes: dict[str, tuple[int, int]]
) -> _Localization:
    loc = _Localization()
    for line, fields in _lines(path):
        if len(fields) not in (3, 5):
            raise _fail(
                path,
                line,
                f"expected 5 fields (path,x0,y0,x1,y1) or 3 (path,mask_png,ignore_png), "
                f"got {len(fields)}",
            )
        image_id = fields[0] = inside_root(path, line, fields[0], "image id")
        if image_id not in ids:
            raise _fail(path, line, f"image {image_id!r} is not in image_ids.txt")
        loc.first_line.setdefault(image_id, line)
        if len(fields) == 5:
            loc.boxes.setdefault(image_id, []).append(_box(path, line, fields, sizes.get(image_id)))
        else:
            _mask_line(path, line, fields, loc)
    return loc


def _box(path: Path, line: int, fields: list[str], size: tuple[int, int] | None) -> Box:
    """A box line's box; checked against the image size when the metadata gives it (else the
    dataset checks it against the decoded image)."""
    names = ("x0", "y0", "x1", "y1")
    x0, y0, x1, y1 = (_int(path, line, t, n) for t, n in zip(fields[1:], names, strict=True))
    if min(x0, y0, x1, y1) < 0:
        raise _fail(path, line, f"negative box coordinate in {(x0, y0, x1, y1)}")
    if x0 > x1 or y0 > y1:
        raise _fail(path, line, f"box {(x0, y0, x1, y1)} has x0 > x1 or y0 > y1")
    if size is not None and (x1 > size[0] - 1 or y1 > size[1] - 1):
        width, height = size
        raise _fail(
            path,
            line,
            f"box {(x0, y0, x1, y1)} outside the {width}x{height} image "
            f"(needs x1 <= {width - 1}, y1 <= {height - 1})",
        )
    return (x0, y0, x1, y1)


def _mask_line(path: Path, line: int, fields: list[str], loc: _Localization) -> None:
    image_id, mask, ignore = fields
    if not mask.strip():
        raise _fail(path, line, f"empty mask path for image {image_id!r}")
    mask = inside_root(path, line, mask, "mask path")
    ignore = inside_root(path, line, ignore, "ignore mask path") if ignore.strip() else ""
    if image_id not in loc.masks:
        loc.masks[image_id] = []
        loc.ignore[image_id] = (ignore, line) if ignore.strip() else None
    elif ignore.strip():
        first = loc.ignore[image_id]
        if first is None or first[0] != ignore:
            raise _fail(
                path,
                line,
                f"ignore mask {ignore!r} on a later mask line of image {image_id!r} "
                "(only the image's first mask line may name one)",
            )
    loc.masks[image_id].append((mask, line))


def read_split(
    metadata_dir: str | os.PathLike,
    data_root: str | os.PathLike,
    mask_root: str | os.PathLike | None = None,
    num_classes: int | None = None,
    *,
    require_localization: bool = True,
    check_files: bool = True,
    name: str | None = None,
) -> SplitMetadata:
    """Read and validate one split's metadata folder.

    Args:
        metadata_dir: folder holding the metadata files of the split.
        data_root: folder the image paths are relative to.
        mask_root: folder the mask paths are relative to (default: ``data_root``).
        num_classes: when given, labels must lie in [0, num_classes).
        require_localization: every image needs at least one box or mask line (evaluation
            splits); when False, ``localization.txt`` may be missing or empty (training
            splits).
        check_files: check that every image and mask file exists (errors name the file).
        name: split name (default: the folder's name).

    Returns:
        The split's records in ``image_ids.txt`` order.
    """
    metadata_dir, data_root = Path(metadata_dir), Path(data_root).absolute()
    mask_root = Path(mask_root).absolute() if mask_root is not None else data_root
    ids_path = metadata_dir / "image_ids.txt"
    ids = _read_ids(ids_path)

    labels_path = metadata_dir / "class_labels.txt"
    labels = _read_keyed(labels_path, ids, 2, "path,label")
    _check_complete(ids_path, ids, labels, "class_labels.txt")
    for image_id, ((label, line),) in labels.items():
        if label < 0 or (num_classes is not None and label >= num_classes):
            bound = f"[0, {num_classes})" if num_classes is not None else ">= 0"
            raise _fail(labels_path, line, f"unknown label {label} of {image_id!r} (needs {bound})")

    if check_files:
        for image_id, line in ids.items():
            if not (data_root / image_id).is_file():
                raise FileNotFoundError(
                    f"{data_root / image_id}: image file not found ({ids_path}:{line})"
                )
    sizes = _read_sizes(metadata_dir, ids)

    loc_path = metadata_dir / "localization.txt"
    if require_localization and not loc_path.is_file():
        raise FileNotFoundError(f"{loc_path}: metadata file not found")
    loc = _read_localization(loc_path, ids, sizes) if loc_path.is_file() else _Localization()
    if require_localization:
        _check_complete(ids_path, ids, loc.first_line, "localization.txt")

    records = []
    for image_id in ids:
        masks = [(mask_root / m, line) for m, line in loc.masks.get(image_id, [])]
        ignore = loc.ignore.get(image_id)
        ignore_path = (mask_root / ignore[0], ignore[1]) if ignore else None
        if check_files:
            for mask_path, line in masks + ([ignore_path] if ignore_path else []):
                if not mask_path.is_file():
                    raise FileNotFoundError(f"{mask_path}: mask file not found ({loc_path}:{line})")
        width, height = sizes.get(image_id, (None, None))
        records.append(
            ImageRecord(
                image_id=image_id,
                image_path=data_root / image_id,
                label=labels[image_id][0][0],
                width=width,
                height=height,
                boxes=tuple(loc.boxes.get(image_id, ())),
                mask_paths=tuple(path for path, _ in masks),
                ignore_path=ignore_path[0] if ignore_path else None,
            )
        )
    return SplitMetadata(
        name=name or metadata_dir.name, metadata_dir=metadata_dir, records=tuple(records)
    )


def _relative(path: Path, root: Path, what: str) -> str:
    try:
        text = Path(path).absolute().relative_to(root).as_posix()
    except ValueError as error:
        raise ValueError(f"{what} {path} is not under {root}") from error
    if "," in text or "\n" in text:
        raise ValueError(f"{what} {path}: the metadata format cannot hold ',' or newlines")
    return text


def write_split(
    records: Iterable[ImageRecord],
    metadata_dir: str | os.PathLike,
    data_root: str | os.PathLike,
    mask_root: str | os.PathLike | None = None,
) -> None:
    """Write records as a wsolevaluation metadata folder that :func:`read_split` reads back.

    Image ids are the image paths relative to ``data_root``; mask paths are written relative
    to ``mask_root`` (default ``data_root``). ``localization.txt`` is always written (empty
    when no record has boxes or masks); each image's box lines come before its mask lines.
    """
    metadata_dir, data_root = Path(metadata_dir), Path(data_root).absolute()
    mask_root = Path(mask_root).absolute() if mask_root is not None else data_root
    files = {name: [] for name in FILES}
    for record in records:
        image_id = _relative(record.image_path, data_root, "image")
        if image_id != record.image_id:
            raise ValueError(f"image id {record.image_id!r} is not its path under {data_root}")
        files["image_ids.txt"].append(image_id)
        files["class_labels.txt"].append(f"{image_id},{record.label}")
        files["image_sizes.txt"].append(f"{image_id},{record.size[0]},{record.size[1]}")
        for box in record.boxes:
            files["localization.txt"].append(",".join([image_id, *map(str, box)]))
        for index, mask in enumerate(record.mask_paths):
            ignore = record.ignore_path if index == 0 else None
            ignore_text = _relative(ignore, mask_root, "ignore mask") if ignore else ""
            mask_text = _relative(mask, mask_root, "mask")
            files["localization.txt"].append(f"{image_id},{mask_text},{ignore_text}")
    metadata_dir.mkdir(parents=True, exist_ok=True)
    for name, lines in files.items():
        (metadata_dir / name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
