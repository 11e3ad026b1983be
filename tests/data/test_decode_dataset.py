"""Decoding every image mode to RGB, unreadable files, and the dataset's samples."""

from __future__ import annotations

import re
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import tv_tensors

from wsol.data.dataset import WSOLDataset
from wsol.data.decode import MAX_PIXELS, read_image_rgb, read_image_tensor, read_mask
from wsol.data.formats.wsoleval import read_split
from wsol.data.frame import boxes_to_frame
from wsol.data.records import ImageRecord
from wsol.data.transforms import eval_transform, train_transform

GREY = np.arange(60, dtype=np.uint8).reshape(6, 10) * 4


@pytest.mark.parametrize(
    "mode, suffix", [("L", "png"), ("LA", "png"), ("RGBA", "png"), ("P", "png"), ("1", "png"),
                     ("CMYK", "jpg"), ("CMYK", "tiff"), ("YCbCr", "jpg"), ("F", "tiff"),
                     ("I", "tiff"), ("RGB", "jpg")],
)  # fmt: skip
def test_every_mode_decodes_to_rgb(tmp_path, mode, suffix):
    path = tmp_path / f"image.{suffix}"
    Image.fromarray(GREY).convert(mode).save(path)
    rgb = read_image_rgb(path)
    assert rgb.dtype == np.uint8 and rgb.shape == (6, 10, 3)
    if mode in ("L", "LA", "RGBA", "P", "F"):
        assert np.array_equal(rgb, np.repeat(GREY[..., None], 3, axis=2))


def test_palette_with_transparency_and_rgba_drop_alpha(tmp_path):
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 0  # fully transparent: the colour underneath is kept
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    assert (read_image_rgb(tmp_path / "a.png")[..., 0] == 200).all()
    palette = Image.fromarray(GREY).convert("P")
    palette.info["transparency"] = 0
    palette.save(tmp_path / "p.png", transparency=0)
    assert read_image_rgb(tmp_path / "p.png").shape == (6, 10, 3)


def test_sixteen_bit_greys_are_rescaled_not_clipped(tmp_path):
    grey16 = np.array([[0, 257, 257 * 100, 65535]], dtype=np.uint16)
    Image.fromarray(grey16).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    assert read_image_rgb(tmp_path / "g16.png")[0, :, 0].tolist() == [0, 1, 100, 255]


def test_unreadable_and_truncated_images_name_the_file(tmp_path):
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    with pytest.raises(ValueError, match=re.escape(f"{tmp_path / 'junk.png'}: unreadable image")):
        read_image_rgb(tmp_path / "junk.png")
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(
        tmp_path / "full.png"
    )
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=re.escape(f"{tmp_path / 'cut.png'}: unreadable image")):
        read_image_rgb(tmp_path / "cut.png")
    with pytest.raises(FileNotFoundError, match="gone.png: image file not found"):
        read_image_rgb(tmp_path / "gone.png")
    with pytest.raises(ValueError, match="junk.png: unreadable mask"):
        read_mask(tmp_path / "junk.png")


def _png_header(width: int, height: int, bit_depth: int = 8, colour_type: int = 2) -> bytes:
    """A PNG signature and IHDR chunk (no pixel data)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    )


@pytest.mark.parametrize("mode", ["RGB", "RGB+transparency", "RGBA", "L", "P", "I;16"])
def test_tensor_decoding_of_pngs_equals_pil(tmp_path, mode):
    """8-bit RGB PNGs skip PIL (libpng via torchvision); every mode gives PIL's pixels."""
    rgb = np.random.default_rng(1).integers(0, 256, (7, 11, 3), dtype=np.uint8)
    path = tmp_path / "image.png"
    if mode == "RGB+transparency":
        Image.fromarray(rgb).save(path, transparency=tuple(int(v) for v in rgb[0, 0]))
    elif mode == "I;16":
        Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(path)
    else:
        Image.fromarray(rgb).convert(mode).save(path)
    tensor = read_image_tensor(path)
    assert tensor.dtype == torch.uint8 and tensor.shape == (3, 7, 11)
    assert torch.equal(tensor.permute(1, 2, 0), torch.from_numpy(read_image_rgb(path)))


def test_png_fast_path_refuses_truncated_and_oversized_files(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=re.escape(f"{tmp_path / 'cut.png'}: unreadable image")):
        read_image_tensor(tmp_path / "cut.png")
    side = int(MAX_PIXELS**0.5) + 1  # refused from the header, before any pixel is decoded
    (tmp_path / "bomb.png").write_bytes(_png_header(side, side) + data[33:])
    with pytest.raises(ValueError, match=re.escape(f"{tmp_path / 'bomb.png'}: image of {side}x")):
        read_image_tensor(tmp_path / "bomb.png")


def test_sample_carries_protocol_targets(valid):
    split = read_split(valid.meta, valid.data)
    dataset = WSOLDataset(split, eval_transform(32), frame_size=32, load_masks=True)
    a, b = dataset[0], dataset[1]
    assert isinstance(a["image"], tv_tensors.Image) and a["image"].shape == (3, 32, 32)
    assert a["image"].dtype == torch.float32
    assert (a["label"], a["image_id"], a["index"]) == (0, "a.png", 0)
    assert isinstance(a["boxes"], tv_tensors.BoundingBoxes) and a["boxes"].canvas_size == (32, 32)
    assert torch.equal(
        a["gt_boxes"], boxes_to_frame([[0, 0, 19, 9], [3, 2, 3, 2]], (20, 10), (32, 32))
    )
    assert a["mask"] is None and a["gt_mask"] is None
    assert b["gt_mask"].dtype == torch.uint8 and b["gt_mask"].shape == (32, 32)
    assert set(b["gt_mask"].unique().tolist()) == {0, 1}
    assert isinstance(b["mask"], tv_tensors.Mask) and b["mask"].shape == (32, 32)
    # The transformed image-resolution mask and the protocol mask agree here (no crop).
    assert torch.equal(b["mask"].as_subclass(torch.Tensor), b["gt_mask"])


def test_image_size_disagreeing_with_metadata_is_an_error(valid):
    valid.write(
        image_sizes="a.png,20,10\nb.png,21,10\n", localization="a.png,0,0,1,1\nb.png,0,0,1,1\n"
    )
    dataset = WSOLDataset(read_split(valid.meta, valid.data))
    with pytest.raises(ValueError, match=r"b.png: image is 20x10 but its metadata says 21x10"):
        dataset[1]


def test_seeded_keys_make_augmentation_independent_of_the_global_rng(tmp_path):
    path = tmp_path / "a.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), np.uint8)).save(path)
    record = ImageRecord("a.png", path, 0, 40, 40, boxes=((2, 3, 30, 35),))
    dataset = WSOLDataset([record], transform=train_transform(resize=40, crop=24))
    torch.manual_seed(1)
    first = dataset[(0, 123)]["image"]
    torch.manual_seed(2)
    again = dataset[(0, 123)]["image"]
    other = dataset[(0, 124)]["image"]
    state = torch.get_rng_state()
    dataset[(0, 125)]
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert torch.equal(state, torch.get_rng_state())  # the global RNG is left as it was
