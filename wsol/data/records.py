"""One record per image: what every metadata reader produces and every loader consumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from wsol.data.decode import image_size

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class ImageRecord:
    """Annotation of one image in a split.

    Attributes:
        image_id: the image path as written in the metadata (relative to the data root);
            also the key under which score maps are saved (`<image_id>.npy`, wsolevaluation style).
        image_path: absolute path of the image file.
        label: class index in [0, num_classes).
        width: original image width in pixels (from image_sizes.txt), or None when the
            metadata gives no size: then :attr:`size` reads it when first needed.
        height: original image height in pixels, or None likewise.
        boxes: ground-truth boxes, inclusive integer pixels (x0, y0, x1, y1) in the original
            image, 0 <= x0 <= x1 <= width - 1; empty when the split has only masks.
        mask_paths: absolute paths of the instance masks (PxAP); empty for box-only splits.
        ignore_path: absolute path of the ignore mask, or None.
    """

    image_id: str
    image_path: Path
    label: int
    width: int | None
    height: int | None
    boxes: tuple[Box, ...] = ()
    mask_paths: tuple[Path, ...] = ()
    ignore_path: Path | None = None

    @property
    def has_masks(self) -> bool:
        return len(self.mask_paths) > 0

    @property
    def size_known(self) -> bool:
        """Whether the metadata gave the size (else it comes from a file header)."""
        return self.width is not None and self.height is not None

    @cached_property
    def size(self) -> tuple[int, int]:
        """(width, height): from the metadata, else from the image file's header, else (mask
        data scored without the images) from the first mask's header; read once, cached."""
        if self.size_known:
            return (self.width, self.height)
        source = self.image_path
        if self.mask_paths and not source.is_file():
            source = self.mask_paths[0]
        try:
            return image_size(source)
        except FileNotFoundError as error:
            raise FileNotFoundError(
                f"{error} (image_sizes.txt gives no size for {self.image_id!r})"
            ) from error


@dataclass(frozen=True)
class SplitMetadata:
    """All records of one split, in metadata order, with where they came from."""

    name: str
    metadata_dir: Path
    records: tuple[ImageRecord, ...] = field(default_factory=tuple)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def has_boxes(self) -> bool:
        return any(r.boxes for r in self.records)

    @property
    def has_masks(self) -> bool:
        return any(r.has_masks for r in self.records)
