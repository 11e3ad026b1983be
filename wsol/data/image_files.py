"""Loose image files for prediction: listing an input, decoding without stopping on errors.

``list_images`` turns a file, a folder or a glob pattern into a sorted list of files.
``ImageFiles`` decodes each with :func:`wsol.data.decode.read_image_rgb` (greyscale, palette,
RGBA, CMYK, 16-bit ... all become 8-bit RGB) and applies the evaluation transform; a file that
cannot be read becomes a sample carrying its error message instead of raising, so one bad file
does not stop a batch. ``collate_image_files`` keeps the good and the failed samples apart.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors

from wsol.data.decode import read_image_rgb

#: Suffixes taken from a folder (a file named explicitly is always tried).
IMAGE_SUFFIXES = (
    ".jpg",
    ".jpeg",
    ".png",
    ".bmp",
    ".gif",
    ".tif",
    ".tiff",
    ".webp",
    ".ppm",
    ".pgm",
    ".pbm",
)


def list_images(
    source: str | Path, recursive: bool = False, exclude: str | Path | None = None
) -> tuple[list[Path], Path]:
    """The image files named by ``source`` and the folder their relative names start from.

    Args:
        source: an image file; a folder (its files with an image suffix, case-insensitive,
            sub-folders too when ``recursive``); or a glob pattern (``**`` allowed), all
            matching files whatever their suffix.
        recursive: descend into the sub-folders of a folder.
        exclude: a folder whose files are never listed (the command's own output folder,
            when it lies inside the input).

    Returns:
        (sorted files, root): ``root`` is the folder, the file's folder, or the deepest folder
        common to the pattern's matches.

    Raises:
        FileNotFoundError: nothing matches ``source`` (the message names it).
    """
    path = Path(source)
    outside = _outside(exclude)
    if path.is_file():
        return [path], path.parent
    if path.is_dir():
        walker = path.rglob("*") if recursive else path.iterdir()
        files = sorted(
            p for p in walker if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and outside(p)
        )
        if not files:
            raise FileNotFoundError(f"input: no image file ({', '.join(IMAGE_SUFFIXES)}) in {path}")
        return files, path
    matches = glob.glob(str(source), recursive=True)
    files = sorted(Path(p) for p in matches if Path(p).is_file() and outside(Path(p)))
    if not files:
        raise FileNotFoundError(f"input: no file, folder or glob match for {str(source)!r}")
    return files, Path(os.path.commonpath([str(p.parent.absolute()) for p in files]))


def _outside(folder: str | Path | None):
    """A predicate: the path does not lie inside ``folder`` (always true without one)."""
    if folder is None:
        return lambda path: True
    root = Path(folder).resolve()
    return lambda path: not path.resolve().is_relative_to(root)


class ImageFiles(Dataset):
    """Decoded, transformed image files; unreadable files give an error sample.

    Args:
        paths: image files.
        transform: applied to the ``tv_tensors.Image`` (uint8 [3, H, W]), e.g. the
            evaluation transform; None keeps the decoded image.

    A sample: ``index``, ``path`` (str), and either ``image`` (the transformed tensor),
    ``original`` (uint8 [3, H, W] as decoded) and ``size`` ((H, W) of the original), or
    ``error`` (str: why the file could not be used, without the path).
    """

    def __init__(
        self, paths: Sequence[str | Path], transform: Callable[[Any], Any] | None = None
    ) -> None:
        self.paths = [Path(p) for p in paths]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, Any]:
        path = self.paths[index]
        sample: dict[str, Any] = {"index": index, "path": str(path)}
        try:
            array = read_image_rgb(path)
            original = torch.from_numpy(array).permute(2, 0, 1).contiguous()
            image = tv_tensors.Image(original)
            if self.transform is not None:
                image = self.transform(image)
        except Exception as error:  # any failure of one file is reported, the others go on
            message = str(error) if isinstance(error, OSError | ValueError) else ""
            message = message or f"{type(error).__name__}: {error}"
            sample["error"] = message.removeprefix(f"{path}: ")  # the path is reported apart
            return sample
        sample["image"] = image.as_subclass(torch.Tensor)
        sample["original"] = original
        sample["size"] = tuple(original.shape[-2:])
        return sample


def collate_image_files(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Batch :class:`ImageFiles` samples.

    Returns:
        ``images`` float [B, 3, S, S] of the good samples (None when all failed), and the
        lists ``paths``, ``originals``, ``sizes``, ``indices`` of the good samples and
        ``failed`` ([(path, error)]) of the others.
    """
    good = [s for s in samples if "error" not in s]
    return {
        "images": torch.stack([s["image"] for s in good]) if good else None,
        "paths": [s["path"] for s in good],
        "originals": [s["original"] for s in good],
        "sizes": [s["size"] for s in good],
        "indices": [s["index"] for s in good],
        "failed": [(s["path"], s["error"]) for s in samples if "error" in s],
    }
