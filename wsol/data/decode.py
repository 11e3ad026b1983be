"""Decoding image and mask files: every image becomes 8-bit RGB, every mask a grey array.

JPEG files (nearly every photo data set) are decoded by ``torchvision.io.decode_image``
(libjpeg-turbo, straight into a uint8 tensor, greyscale and CMYK converted to RGB; pixel-equal
to PIL here), and so are 8-bit RGB PNGs (libpng; lossless, so pixel-equal to PIL: about twice
as fast, the synthetic benchmark's case). Every other file goes through PIL. Images are decoded
in their stored orientation (no EXIF rotation: the metadata's sizes and boxes refer to the
stored pixels).
PIL's mode conversions:

- ``L``, ``P``, ``CMYK``, ``YCbCr``, ``1`` ...: PIL's own conversion to RGB.
- ``RGBA``, ``LA``, ``PA`` and palettes with transparency: the alpha channel is dropped (the
  colour under transparent pixels is kept), as ``Image.convert("RGB")`` does in the reference
  pipelines.
- 16/32-bit integer greys (``I;16*``, ``I``): rescaled from [0, 65535] to [0, 255]
  (``Image.convert`` would clip them to white instead).
- float ``F``: clipped to [0, 255].

Images and masks of more than :data:`MAX_PIXELS` pixels (decompression bombs, or simply too
large to load) are refused from their header, naming the file, before any pixel is decoded.

Masks are read like the reference evaluator reads them: ``cv2.imread(IMREAD_GRAYSCALE)``
(RGB masks become OpenCV's luma, 16-bit masks keep their high byte).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torchvision.io import ImageReadMode, decode_image, read_file

_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Largest image or mask accepted, in pixels (PIL's own warning threshold, ~ 9459 x 9459).
MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485
# The size is checked here, from the header, with a clear error; PIL's warning is redundant.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
# torchvision 0.29 warns on every decode that TorchCodec will take this over; until then
# decode_image is the tensor decoder torchvision provides (TorchCodec is not a dependency).
warnings.filterwarnings(
    "ignore",
    message="The image decoding and encoding capabilities of TorchVision are deprecated",
    category=DeprecationWarning,
)


def _image_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: image file not found")
    return path


def _too_large(path: Path, width: int, height: int) -> ValueError:
    return ValueError(
        f"{path}: image of {width}x{height} pixels is larger than the limit of {MAX_PIXELS} "
        "pixels (a decompression bomb, or too large to load): refused"
    )


@contextmanager
def _opened(path: Path) -> Iterator[Image.Image]:
    """The image opened by PIL (header only) and checked against :data:`MAX_PIXELS`; any
    decoding failure becomes a ValueError naming the file."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise _too_large(path, width, height)
            yield image
    except Image.DecompressionBombError as error:
        raise ValueError(f"{path}: refused as a decompression bomb ({error})") from error
    except (OSError, SyntaxError) as error:
        raise ValueError(f"{path}: unreadable image ({error})") from error
    except ValueError as error:
        if str(error).startswith(str(path)):
            raise
        raise ValueError(f"{path}: unreadable image ({error})") from error


def _plain_rgb_png(head: bytes) -> tuple[int, int] | None:
    """(width, height) of an 8-bit RGB PNG (colour type 2, bit depth 8) from the first 26 bytes
    of the file (signature and IHDR), else None: every other PNG mode goes through PIL."""
    if len(head) < 26 or head[:8] != _PNG_MAGIC or head[12:16] != b"IHDR":
        return None
    if head[24] != 8 or head[25] != 2:
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def _decode_tensor(path: Path, data: Tensor) -> Tensor:
    try:
        return decode_image(data, mode=ImageReadMode.RGB)
    except RuntimeError as error:
        reason = str(error).rsplit(", ", 1)[-1]
        raise ValueError(f"{path}: unreadable image ({reason})") from error


def read_image_tensor(path: str | Path) -> Tensor:
    """Like :func:`read_image_rgb`, as a uint8 tensor [3, H, W]; JPEG files and 8-bit RGB PNGs
    skip PIL (the loaders' path)."""
    path = _image_file(path)
    data = read_file(str(path))
    head = data[:26].numpy().tobytes()
    if head[:3] == _JPEG_MAGIC:
        with _opened(path):  # the header's size, before libjpeg allocates the pixels
            pass
        return _decode_tensor(path, data)
    png_size = _plain_rgb_png(head)
    if png_size is not None:
        if png_size[0] * png_size[1] > MAX_PIXELS:
            raise _too_large(path, *png_size)
        return _decode_tensor(path, data)
    return torch.from_numpy(read_image_rgb(path)).permute(2, 0, 1).contiguous()


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of an image file from its header (the pixels are not decoded)."""
    with _opened(_image_file(path)) as image:
        return image.size


def read_image_rgb(path: str | Path) -> np.ndarray:
    """Decode an image file as RGB.

    Returns:
        uint8 array [H, W, 3].

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file cannot be decoded (message names the file).
    """
    with _opened(_image_file(path)) as image:
        image.load()
        return _to_rgb(image)


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
    try:  # the header's size, before OpenCV allocates the pixels
        with Image.open(path) as header:
            width, height = header.size
    except Image.DecompressionBombError as error:
        raise ValueError(f"{path}: refused as a decompression bomb ({error})") from error
    except Exception:  # noqa: BLE001 - a format PIL cannot read: OpenCV decides below
        width = height = 0
    if width * height > MAX_PIXELS:
        raise _too_large(path, width, height)
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise ValueError(f"{path}: unreadable mask image")
    return mask
