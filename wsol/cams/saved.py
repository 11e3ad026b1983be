"""Score maps saved by any code, laid out as wsolevaluation lays them: ``<dir>/<image_id>.npy``.

wsolevaluation's evaluator reads ``os.path.join(scoremap_root, image_id + ".npy")`` (the image
extension stays: ``test/a.jpg`` → ``test/a.jpg.npy``), while its inference code writes the base
name only (``<dir>/a.jpg.npy``); both layouts are accepted, in that order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from wsol.cams.pipeline import scoremaps


def saved_map_paths(cams_dir: Path, image_id: str) -> list[Path]:
    """The places a map for ``image_id`` may be, in the order they are tried."""
    nested = cams_dir / f"{image_id}.npy"
    flat = cams_dir / f"{Path(image_id).name}.npy"
    return [nested] if flat == nested else [nested, flat]


def check_flat_layout(cams_dir: Path, image_ids: list[str]) -> None:
    """Refuse a flat layout (``<dir>/<base name>.npy``) where two ids share a base name: one
    file would be scored for both images.

    Raises:
        ValueError: naming the file and the ids that would read it.
    """
    readers: dict[Path, list[str]] = {}
    for image_id in image_ids:
        candidates = saved_map_paths(cams_dir, image_id)
        if len(candidates) == 2 and not candidates[0].is_file() and candidates[1].is_file():
            readers.setdefault(candidates[1], []).append(image_id)
    for path, ids in readers.items():
        if len(ids) > 1:
            raise ValueError(
                f"{path}: one flat score map for {len(ids)} images with the same base name "
                f"({', '.join(repr(i) for i in ids[:5])}); save the maps as "
                "<cams_dir>/<image_id>.npy (nested by the id's folders)"
            )


def _as_native_float(array: np.ndarray, image_id: str, path: Path) -> np.ndarray:
    """Any float dtype in either byte order → native float32/float64 (float16 widened)."""
    if array.dtype.kind != "f":
        raise ValueError(
            f"image {image_id!r}: {path}: score map must be a float array, got {array.dtype}"
        )
    native = np.float64 if array.dtype.itemsize > 4 else np.float32
    return array.astype(native, copy=False)


def load_saved_map(
    cams_dir: Path, image_id: str, frame: tuple[int, int]
) -> tuple[Tensor, bool, bool]:
    """Read and check one saved score map; bring it into the evaluation frame.

    Maps must be 2-D float arrays (any width, either byte order) in [0, 1], finite. A map
    already of the frame's size is used as saved (float32 or float64 kept: the protocol's u8
    quantization multiplies in the map's own precision). A map of another size is upsampled
    like a CAM (bicubic in float64, then per-image min-max) and reported as resized. A
    degenerate map (constant, e.g. 1x1) localizes nothing: it is scored as zeros and reported
    as invalid, as the CAM pipeline counts it.

    Args:
        cams_dir: root folder of the saved maps.
        image_id: the image's id in the metadata.
        frame: evaluation frame (height, width).

    Returns:
        (map [H, W] in [0, 1], resized, invalid).
    """
    candidates = saved_map_paths(cams_dir, image_id)
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        tried = ", ".join(str(p) for p in candidates)
        raise FileNotFoundError(f"image {image_id!r}: no score map (tried {tried})")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise ValueError(
            f"image {image_id!r}: {path} is not a readable .npy array ({error})"
        ) from error
    if not isinstance(array, np.ndarray):  # np.load opens a zip (np.savez) as an archive
        array.close()
        raise ValueError(f"image {image_id!r}: {path} is a .npz archive, not a .npy array")
    if array.ndim != 2:
        raise ValueError(
            f"image {image_id!r}: {path}: score map must be 2-D (H, W), got shape {array.shape}"
        )
    if array.size == 0:
        raise ValueError(f"image {image_id!r}: {path}: score map is empty ({array.shape})")
    array = _as_native_float(array, image_id, path)
    if not np.isfinite(array).all():
        raise ValueError(f"image {image_id!r}: {path}: score map contains NaN or infinity")
    low, high = float(array.min()), float(array.max())
    if low < 0 or high > 1:
        raise ValueError(
            f"image {image_id!r}: score map values must lie in [0, 1], got [{low}, {high}]"
        )
    scoremap = torch.from_numpy(np.ascontiguousarray(array))
    if low == high:
        return (
            torch.zeros(tuple(frame), dtype=scoremap.dtype),
            tuple(array.shape) != tuple(frame),
            True,
        )
    if tuple(scoremap.shape) == tuple(frame):
        return scoremap, False, False
    resized, invalid = scoremaps(scoremap[None], tuple(frame))
    return resized[0], True, bool(invalid[0])


def unmatched_maps(cams_dir: Path, image_ids: list[str]) -> list[Path]:
    """``.npy`` files under ``cams_dir`` that no image id of the metadata would read."""
    expected = {p.resolve() for image_id in image_ids for p in saved_map_paths(cams_dir, image_id)}
    return sorted(p for p in cams_dir.rglob("*.npy") if p.resolve() not in expected)
