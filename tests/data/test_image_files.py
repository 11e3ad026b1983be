"""Loose image files for prediction: listing inputs, decoding any mode, errors as samples."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from wsol.data.image_files import ImageFiles, collate_image_files, list_images
from wsol.data.transforms import eval_transform


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    Image.fromarray(rgb[..., 0]).save(tmp_path / "grey.JPG")
    Image.fromarray(rgb).convert("RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg")
    (tmp_path / "broken.jpg").write_bytes(b"not an image at all")
    (tmp_path / "notes.txt").write_text("skipped in a folder")
    (tmp_path / "sub").mkdir()
    Image.fromarray(rgb).save(tmp_path / "sub" / "b.png")
    return tmp_path


def test_list_a_folder_a_file_and_a_glob(images):
    files, root = list_images(images)
    assert [f.name for f in files] == ["a.png", "broken.jpg", "cmyk.jpg", "grey.JPG", "rgba.png"]
    assert root == images
    files, _ = list_images(images, recursive=True)
    assert "b.png" in [f.name for f in files]
    assert list_images(images / "notes.txt")[0] == [images / "notes.txt"]
    files, root = list_images(str(images / "**" / "*.png"))
    assert [f.name for f in files] == ["a.png", "rgba.png", "b.png"] and root == images


def test_nothing_to_list_names_the_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing_here"):
        list_images(tmp_path / "nothing_here*.jpg")
    with pytest.raises(FileNotFoundError, match="no image file"):
        list_images(tmp_path)


def test_every_mode_becomes_rgb_and_bad_files_become_errors(images):
    files, _ = list_images(images)
    dataset = ImageFiles(files, eval_transform(32))
    batch = collate_image_files([dataset[i] for i in range(len(dataset))])
    assert batch["images"].shape == (4, 3, 32, 32) and batch["images"].dtype == torch.float32
    assert all(o.shape == (3, 30, 40) and o.dtype == torch.uint8 for o in batch["originals"])
    assert batch["sizes"] == [(30, 40)] * 4
    ((path, reason),) = batch["failed"]
    assert path.endswith("broken.jpg") and reason.startswith("unreadable image")


def test_a_batch_of_failures_only():
    dataset = ImageFiles(["/no/such/file.png"])
    batch = collate_image_files([dataset[0]])
    assert batch["images"] is None and batch["paths"] == []
    assert "not found" in batch["failed"][0][1]
