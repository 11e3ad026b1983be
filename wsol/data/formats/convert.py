"""What every converter from a data set's original layout shares.

A converter lists :class:`Candidate` images (split, label, boxes, masks) from the original
annotation files, then :func:`convert` decodes every image and mask once (in worker processes,
with a progress bar), refuses the ones that cannot be used with a reason, clips boxes to their
image, and writes one wsolevaluation metadata folder per split (:func:`write_split`) plus
``refused.txt`` and ``summary.json``. Running it again on the same input writes the same files.

Malformed annotation files are errors naming file and line (nothing is written); a missing or
corrupt image is refused and listed, so that training never meets it hours into a run.
"""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from wsol.data.decode import read_image_tensor, read_mask
from wsol.data.formats.wsoleval import write_split
from wsol.data.image_files import IMAGE_SUFFIXES
from wsol.data.records import ImageRecord

#: Splits scored by the protocol: their images need a box or a mask.
SCORED_SPLITS = ("val", "test")


@dataclass
class Candidate:
    """One image as the original annotations describe it.

    Attributes:
        image_id: path relative to the data root (posix), the metadata's image id.
        split: split it goes to (``train``, ``val``, ``test``).
        label: 0-based class index.
        boxes: inclusive (x0, y0, x1, y1) boxes in the image's pixels, before clipping.
        masks: instance mask paths relative to the mask root.
        ignore: ignore mask path relative to the mask root, or None.
    """

    image_id: str
    split: str
    label: int
    boxes: list[tuple[int, int, int, int]] = field(default_factory=list)
    masks: tuple[str, ...] = ()
    ignore: str | None = None


@dataclass
class Summary:
    """What a conversion wrote and refused."""

    out_dir: Path
    data_root: Path
    mask_root: Path | None
    written: dict[str, int]
    refused: list[tuple[str, str]]
    notes: dict[str, int]

    def lines(self) -> list[str]:
        """The human-readable summary the scripts print."""
        out = [f"metadata written to {self.out_dir}:"]
        out += [f"  {split}: {count} images" for split, count in self.written.items()]
        out += [f"  {what}: {count}" for what, count in self.notes.items() if count]
        out.append(f"refused: {len(self.refused)} (listed in {self.out_dir / 'refused.txt'})")
        out += [f"  {image_id}: {reason}" for image_id, reason in self.refused[:20]]
        if len(self.refused) > 20:
            out.append(f"  ... and {len(self.refused) - 20} more")
        roots = f"data.metadata_root={self.out_dir} data.data_root={self.data_root}"
        if self.mask_root is not None:
            roots += f" data.mask_root={self.mask_root}"
        out.append(f"train with: {roots}")
        return out


def fail(path: Path, line: int | None, reason: str) -> ValueError:
    """The error of a malformed annotation file: ``path:line: reason``."""
    return ValueError(f"{path}:{line}: {reason}" if line is not None else f"{path}: {reason}")


def table(path: Path, names: Sequence[str]) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of a whitespace-separated file with exactly ``len(names)`` fields
    per non-blank line; the last field takes the rest of the line (paths with spaces)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: annotation file not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise fail(path, None, f"not UTF-8 ({error.reason} at byte {error.start})") from error
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split(maxsplit=len(names) - 1)
        if len(fields) != len(names):
            layout = " ".join(names)
            raise fail(path, number, f"expected {len(names)} fields ({layout}), got {len(fields)}")
        yield number, fields


def number(path: Path, line: int | None, text: str, what: str, kind=float) -> float:
    """``text`` as a number (``kind``), or an error naming file, line and field."""
    try:
        return kind(text)
    except ValueError:
        raise fail(path, line, f"{what} is not a number: {text!r}") from None


def xywh_box(x: float, y: float, w: float, h: float) -> tuple[int, int, int, int]:
    """CUB / COCO ``x y w h`` as the benchmark's box ``(x, y, x + w, y + h)`` in integers."""
    return (int(x), int(y), int(x + w), int(y + h))


def image_files(folder: Path) -> list[Path]:
    """The image files directly in ``folder`` (by suffix, case-insensitive), sorted."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def relative_id(path: Path, root: Path) -> str:
    return path.absolute().relative_to(root.absolute()).as_posix()


def _probe(task: tuple[Path, tuple[Path, ...]]) -> tuple[int, int] | str:
    """Decode an image and its masks once: (width, height), or why it cannot be used (masks
    must have the image's size, which scoring checks against image_sizes.txt)."""
    image_path, mask_paths = task
    try:
        height, width = read_image_tensor(image_path).shape[-2:]
        for mask in mask_paths:
            mask_height, mask_width = read_mask(mask).shape
            if (mask_width, mask_height) != (width, height):
                return f"mask {mask} is {mask_width}x{mask_height}, the image {width}x{height}"
    except (ValueError, OSError) as error:
        return str(error)
    return int(width), int(height)


def _probe_all(tasks: list, workers: int, progress: bool) -> list[tuple[int, int] | str]:
    bar = dict(total=len(tasks), desc="decoding images", unit="img", disable=not progress)
    if workers <= 0:
        return [_probe(task) for task in tqdm(tasks, **bar)]
    with ProcessPoolExecutor(workers) as pool:
        return list(tqdm(pool.map(_probe, tasks, chunksize=32), **bar))


def read_id_list(path: Path, known: dict[str, Candidate]) -> list[str]:
    """Image ids listed one per line (``#`` comments and blank lines skipped)."""
    ids = []
    for line, text in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        text = text.strip()
        if not text or text.startswith("#"):
            continue
        if text not in known:
            raise fail(path, line, f"image {text!r} is not among the images converted")
        ids.append(text)
    return ids


def _clip(box, width: int, height: int) -> tuple[tuple[int, int, int, int] | None, bool]:
    """The box clipped to the image (None when nothing of it is inside), and whether it moved."""
    x0, y0, x1, y1 = box
    clipped = (max(x0, 0), max(y0, 0), min(x1, width - 1), min(y1, height - 1))
    if clipped[0] > clipped[2] or clipped[1] > clipped[3]:
        return None, True
    return clipped, clipped != tuple(box)


def convert(
    candidates: Sequence[Candidate],
    out_dir: str | os.PathLike,
    data_root: str | os.PathLike,
    mask_root: str | os.PathLike | None = None,
    *,
    val_list: str | os.PathLike | None = None,
    unscored_to_train: bool = False,
    refused: Sequence[tuple[str, str]] = (),
    notes: dict[str, int] | None = None,
    class_names: Sequence[str] | None = None,
    workers: int = 0,
    progress: bool = True,
) -> Summary:
    """Decode, check and write the candidates as wsolevaluation metadata under ``out_dir``.

    Args:
        candidates: the images, in the order their splits list them.
        out_dir: gets one folder per split, ``refused.txt`` and ``summary.json``.
        data_root: folder the image ids are relative to.
        mask_root: folder mask paths are relative to (default ``data_root``).
        val_list: file of image ids (one per line) moved into a ``val`` split.
        unscored_to_train: an image of a scored split without box or mask goes to ``train``
            (counted) instead of being refused.
        refused: images the converter already refused, (image, reason).
        notes: counts the converter wants in the summary.
        class_names: written one per line to ``class_names.txt`` (class index = line - 1).
        workers: decoding processes (0: in this process).
        progress: show a progress bar.
    """
    out_dir, data_root = Path(out_dir), Path(data_root).absolute()
    mask_base = Path(mask_root).absolute() if mask_root is not None else data_root
    own = out_dir.resolve()
    # A converter never reads its own output folder (an out_dir inside the data root).
    inside = [c for c in candidates if (data_root / c.image_id).resolve().is_relative_to(own)]
    if inside:
        candidates = [c for c in candidates if c not in inside]
        refused = [*refused, *((c.image_id, f"inside the output folder {out_dir}") for c in inside)]
    to_val = set()
    if val_list is not None:
        to_val = set(read_id_list(Path(val_list), {c.image_id: c for c in candidates}))
    tasks = [
        (data_root / c.image_id, tuple(mask_base / m for m in (*c.masks, c.ignore) if m))
        for c in candidates
    ]
    results = _probe_all(tasks, workers, progress)
    refused_list, notes = list(refused), Counter(notes or {})
    splits: dict[str, list[ImageRecord]] = {}
    for candidate, result in zip(candidates, results, strict=True):
        if isinstance(result, str):
            refused_list.append((candidate.image_id, result))
            continue
        width, height = result
        boxes = []
        for box in candidate.boxes:
            inside, moved = _clip(box, width, height)
            notes["boxes clipped to their image"] += int(moved and inside is not None)
            notes["boxes outside their image, dropped"] += int(inside is None)
            if inside is not None:
                boxes.append(inside)
        split = listed = "val" if candidate.image_id in to_val else candidate.split
        if split in SCORED_SPLITS and not boxes and not candidate.masks:
            if not unscored_to_train:
                refused_list.append((candidate.image_id, f"no box or mask: {split} is scored"))
                continue
            split = "train"
            notes[f"images listed for {listed} without boxes, trained on"] += 1
        if split == "train" and not boxes and not candidate.masks:
            notes["train images without boxes (trained on, not scored)"] += 1
        splits.setdefault(split, []).append(
            ImageRecord(
                image_id=candidate.image_id,
                image_path=data_root / candidate.image_id,
                label=candidate.label,
                width=width,
                height=height,
                boxes=tuple(boxes),
                mask_paths=tuple(mask_base / m for m in candidate.masks),
                ignore_path=mask_base / candidate.ignore if candidate.ignore else None,
            )
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    for split, records in splits.items():
        write_split(records, out_dir / split, data_root, mask_base)
    if class_names is not None:
        (out_dir / "class_names.txt").write_text("".join(f"{c}\n" for c in class_names))
    (out_dir / "refused.txt").write_text(
        "".join(f"{image_id}\t{reason}\n" for image_id, reason in refused_list), encoding="utf-8"
    )
    summary = Summary(
        out_dir=out_dir,
        data_root=data_root,
        mask_root=Path(mask_root).absolute() if mask_root is not None else None,
        written={split: len(records) for split, records in sorted(splits.items())},
        refused=refused_list,
        notes={what: count for what, count in notes.items() if count},
    )
    record = {
        "data_root": str(data_root),
        "mask_root": str(summary.mask_root) if summary.mask_root else None,
        "written": summary.written,
        "refused": len(refused_list),
        "notes": summary.notes,
    }
    (out_dir / "summary.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return summary


def converter_parser(description: str) -> argparse.ArgumentParser:
    """The converters' command line: their own arguments plus the shared options."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--val-list", help="file of image ids (one per line) to put in val/")
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="decoding processes (default: every CPU; 0: this process)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def options(args: argparse.Namespace) -> dict:
    """The shared options of :func:`converter_parser`, as keywords of :func:`convert`."""
    return dict(val_list=args.val_list, workers=args.workers, progress=not args.no_progress)


def report(summary: Summary) -> int:
    """Print the summary; exit status 0 (refused images are listed, not fatal)."""
    print("\n".join(summary.lines()))
    return 0
