"""Decoding image and mask files: every image becomes 8-bit RGB, every mask a grey array.

Images are decoded with PIL in their stored orientation (no EXIF rotation: the metadata's
sizes and boxes refer to the stored pixels). Mode conversions:

- ``L``, ``P``, ``CMYK``, ``YCbCr``, ``1`` ...: PIL's own conversion to RGB.
- ``RGBA``, ``LA``, ``PA`` and palettes with transparency: the alpha channel is dropped (the
  colour under transparent pixels is kept), as ``Image.convert("RGB")`` does in the reference
  pipelines.
- 16/32-bit integer greys (``I;16*``, ``I``): rescaled from [0, 65535] to [0, 255]
  (``Image.convert`` would clip them to white instead).
- float ``F``: clipped to [0, 255].

Masks are read like the reference evaluator reads them: ``cv2.imread(IMREAD_GRAYSCALE)``
(RGB masks become OpenCV's luma, 16-bit masks keep their high byte).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image


def read_image_rgb(path: str | Path) -> np.ndarray:
    """Decode an image file as RGB.

    Returns:
        uint8 array [H, W, 3].

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file cannot be decoded (message names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: image file not found")
    try:
        with Image.open(path) as image:
            image.load()
            return _to_rgb(image)
    except (OSError, SyntaxError, ValueError) as error:
        raise ValueError(f"{path}: unreadable image ({error})") from error


def _to_rgb(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode == "RGB":
        return np.asarray(image, dtype=np.uint8).copy()
    if mode.startswith("I"):  # I, I;16, I;16B, I;16L, I;16N
        grey = np.asarray(image, dtype=np.float64)
        grey = np.clip(np.rint(grey / 257.0), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if mode == "F":
        grey = np.clip(np.asarray(image, dtype=np.float64), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def read_mask(path: str | Path) -> np.ndarray:
    """Read a mask PNG as the reference evaluator does.

    Returns:
        uint8 array [h, w] (grey levels; the protocol treats > 0.5, i.e. > 0, as set).

    Raises:
        FileNotFoundError: no such file.
        ValueError: OpenCV cannot decode the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: mask file not found")
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise ValueError(f"{path}: unreadable mask image")
    return mask
