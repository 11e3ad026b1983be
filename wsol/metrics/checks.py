"""Input validation for the protocol metrics: clear errors that name the image and the problem.

Every metric's ``update`` goes through these before touching its state, so a bad batch
never leaves a metric half-updated. Tensors (any device) and numpy arrays are accepted;
the checked values come back as numpy arrays on the CPU.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np

from wsol.metrics import _pixels

_FLOAT_DTYPES = (np.float16, np.float32, np.float64)


def _is_tensor(x) -> bool:
    """Whether ``x`` is a torch tensor. torch is not imported here: only a process that has
    imported it can hold a tensor (the kernels' warm-up runs without it)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def to_numpy(x, name: str) -> np.ndarray:
    """A tensor or array-like as a numpy array (detached, on the CPU)."""
    if _is_tensor(x):
        if x.dtype == sys.modules["torch"].bfloat16:
            raise TypeError(f"{name}: bfloat16 is not supported; pass float32 or float64")
        return x.detach().cpu().numpy()
    return np.asarray(x)


def check_scoremaps(scoremaps, values: bool = True) -> np.ndarray:
    """Score maps [N, H, W], float, no NaN, within [0, 1]; returned contiguous, own dtype.

    ``values=False`` checks only the shape and dtype, for callers whose kernel checks the
    values on its way (`functional.score_histograms`).
    """
    maps = to_numpy(scoremaps, "scoremaps")
    if maps.ndim != 3:
        raise ValueError(f"scoremaps must be [N, H, W], got shape {tuple(maps.shape)}")
    if maps.dtype.type not in _FLOAT_DTYPES:
        raise TypeError(f"scoremaps must be float16/32/64, got dtype {maps.dtype}")
    if maps.shape[1] < 1 or maps.shape[2] < 1:
        raise ValueError(f"scoremaps must have H, W >= 1, got shape {tuple(maps.shape)}")
    maps = np.ascontiguousarray(maps)
    if values:
        check_scoremap_values(maps)
    return maps


def check_scoremap_values(maps: np.ndarray) -> None:
    """Raise for the first map [N, ...] holding a NaN or a value outside [0, 1]."""
    flat = maps.reshape(len(maps), -1)
    if maps.dtype == np.float16:
        bad = ~((flat >= 0) & (flat <= 1)).all(axis=1)
        first = int(np.argmax(bad)) if bad.any() else -1
    else:
        first = _pixels.first_bad_map(flat) if flat.size else -1
    if first >= 0:
        raise scoremap_value_error(maps, first)


def scoremap_value_error(maps: np.ndarray, i: int) -> ValueError:
    """The error for map i holding a NaN or a value outside [0, 1]."""
    values = maps[i]
    if np.isnan(values).any():
        return ValueError(f"scoremaps[{i}] contains NaN")
    return ValueError(
        f"scoremaps[{i}] has values outside [0, 1] "
        f"(min={float(values.min())!r}, max={float(values.max())!r})"
    )


def check_boxes(gt_boxes, n: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Ground-truth boxes: a sequence of N arrays [K_n, 4] (x0, y0, x1, y1), K_n >= 1.

    Coordinates are inclusive integer pixels of the [height, width] frame.

    Returns:
        flat: [sum K_n, 4] int64 boxes; offsets: [N + 1] int64, image n owns
        flat[offsets[n]:offsets[n + 1]].
    """
    array_like = _is_tensor(gt_boxes) or isinstance(gt_boxes, np.ndarray)
    if array_like and np.ndim(gt_boxes) == 2:
        raise ValueError("gt_boxes must hold one [K, 4] box array per image, got a 2-D array")
    if not (array_like or isinstance(gt_boxes, Sequence)):
        raise TypeError(f"gt_boxes must be a list of N tensors [K_n, 4], got {type(gt_boxes)}")
    if len(gt_boxes) != n:
        raise ValueError(f"len(gt_boxes) = {len(gt_boxes)} but scoremaps hold N = {n} images")
    arrays = []
    for i, boxes in enumerate(gt_boxes):
        b = to_numpy(boxes, f"gt_boxes[{i}]")
        if b.size == 0:
            raise ValueError(f"gt_boxes[{i}] is empty: every image needs at least one box")
        if b.ndim == 1 and b.shape[0] == 4:
            b = b[None]
        if b.ndim != 2 or b.shape[1] != 4:
            raise ValueError(f"gt_boxes[{i}] must be [K, 4], got shape {tuple(b.shape)}")
        if b.dtype.kind not in "iuf":
            raise TypeError(f"gt_boxes[{i}] must be numeric, got dtype {b.dtype}")
        arrays.append(b)
    offsets = np.zeros(n + 1, np.int64)
    offsets[1:] = np.cumsum([len(b) for b in arrays])
    if not arrays:
        return np.zeros((0, 4), np.int64), offsets
    raw = np.concatenate([b.astype(np.float64, copy=False) for b in arrays])
    owner = np.repeat(np.arange(n), np.diff(offsets))

    def where(k: int) -> str:
        i = int(owner[k])
        return f"gt_boxes[{i}][{k - int(offsets[i])}] = {arrays[i][k - int(offsets[i])].tolist()}"

    bad = np.flatnonzero(~np.isfinite(raw).all(axis=1) | (raw != np.round(raw)).any(axis=1))
    if bad.size:
        raise ValueError(f"{where(bad[0])}: must hold integer pixel coordinates")
    x0, y0, x1, y1 = raw.T
    for k, reason in (
        (np.flatnonzero(x0 > x1), "x0 > x1"),
        (np.flatnonzero(y0 > y1), "y0 > y1"),
        (np.flatnonzero((x0 < 0) | (y0 < 0)), "negative coordinate"),
        (np.flatnonzero(x1 > width - 1), f"x1 > W - 1 = {width - 1}"),
        (np.flatnonzero(y1 > height - 1), f"y1 > H - 1 = {height - 1}"),
    ):
        if k.size:
            raise ValueError(
                f"{where(k[0])}: {reason} "
                f"(boxes are inclusive x0, y0, x1, y1 in the {height}x{width} frame)"
            )
    return np.ascontiguousarray(raw.astype(np.int64)), offsets


def check_masks(gt_masks, shape: tuple[int, ...], values: bool = True) -> np.ndarray:
    """Masks [N, H, W] of the scoremaps' shape: 0 background, 1 foreground, 255 ignore.

    Returned as contiguous uint8. ``values=False`` leaves the uint8 values unchecked, for
    callers whose kernel checks them on its way (`functional.score_histograms`).
    """
    masks = to_numpy(gt_masks, "gt_masks")
    if tuple(masks.shape) != tuple(shape):
        raise ValueError(
            f"gt_masks shape {tuple(masks.shape)} does not match scoremaps shape {tuple(shape)}"
        )
    if masks.dtype.kind not in "iub":
        raise TypeError(f"gt_masks must be an integer (uint8) array, got dtype {masks.dtype}")
    if masks.dtype != np.uint8:
        wrong = (masks < 0) | (masks > 255)
        if wrong.any():
            raise mask_value_error(masks, int(np.argmax(wrong.reshape(len(masks), -1).any(1))))
    masks = np.ascontiguousarray(masks.astype(np.uint8, copy=False))
    if values:
        check_mask_values(masks)
    return masks


def check_mask_values(masks: np.ndarray) -> None:
    """Raise for the first uint8 mask [N, ...] holding a value other than 0, 1, 255."""
    first = _pixels.first_bad_mask(masks.reshape(len(masks), -1)) if masks.size else -1
    if first >= 0:
        raise mask_value_error(masks, first)


def mask_value_error(masks: np.ndarray, i: int) -> ValueError:
    """The error for mask i holding values other than 0, 1, 255."""
    m = masks[i]
    values = np.unique(m[(m != 0) & (m != 1) & (m != 255)])[:5].tolist()
    return ValueError(f"gt_masks[{i}] has values other than 0, 1, 255: {values}")


def check_labels_logits(labels, logits, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Class labels [N] in [0, K) and finite logits [N, K]."""
    lab = to_numpy(labels, "labels")
    log = to_numpy(logits, "logits")
    if lab.ndim != 1 or lab.shape[0] != n:
        raise ValueError(f"labels must be [N] with N = {n}, got shape {tuple(lab.shape)}")
    if log.ndim != 2 or log.shape[0] != n or log.shape[1] < 1:
        raise ValueError(f"logits must be [N, K] with N = {n}, got shape {tuple(log.shape)}")
    if lab.dtype.kind not in "iu":
        raise TypeError(f"labels must be integers, got dtype {lab.dtype}")
    bad = (lab < 0) | (lab >= log.shape[1])
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"labels[{i}] = {int(lab[i])} is outside [0, K = {log.shape[1]})")
    finite = np.isfinite(log).all(axis=1)
    if not finite.all():
        raise ValueError(f"logits[{int(np.argmin(finite))}] is not finite")
    return lab.astype(np.int64), log
