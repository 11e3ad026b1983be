"""Inputs the catalogue lists as accepted, checked for what they must produce."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from wsol.cams.saved import load_saved_map
from wsol.data.image_files import list_images
from wsol.tasks.predict import prepare_output


def test_overwrite_replaces_only_the_previous_predictions(tmp_path):
    out = tmp_path / "out"
    (out / "overlays" / "sub").mkdir(parents=True)
    (out / "overlays" / "sub" / "old.png").write_bytes(b"old overlay")
    (out / "predictions.jsonl").write_text("{}\n")
    (out / "notes.txt").write_text("mine\n")
    with pytest.raises(ValueError, match="folder is not empty"):
        prepare_output(out, overwrite=False)
    assert (out / "overlays" / "sub" / "old.png").is_file()
    prepare_output(out, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_a_glob_input_never_lists_the_output_folder(tmp_path):
    for name in ("a.png", "out/overlays/a.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / name)
    files, _ = list_images(f"{tmp_path}/**/*.png", exclude=tmp_path / "out")
    assert files == [tmp_path / "a.png"]


@pytest.mark.parametrize("dtype", [">f8", "<f8", ">f4", "<f2", "float64", "float32"])
def test_maps_of_any_float_dtype_and_byte_order_score_alike(tmp_path, dtype):
    values = np.random.default_rng(0).random((8, 8))
    (tmp_path / "t").mkdir()
    np.save(tmp_path / "t" / "a.png.npy", values.astype(dtype))
    scoremap, resized, invalid = load_saved_map(tmp_path, "t/a.png", (8, 8))
    assert not resized and not invalid
    expected = torch.from_numpy(values.astype(dtype).astype(scoremap.numpy().dtype))
    assert torch.equal(scoremap, expected)


@pytest.mark.parametrize("shape", [(1, 1), (8, 8), (3, 5)])
def test_constant_maps_are_invalid_on_every_path(tmp_path, shape):
    (tmp_path / "t").mkdir()
    np.save(tmp_path / "t" / "a.png.npy", np.full(shape, 0.3))
    scoremap, _, invalid = load_saved_map(tmp_path, "t/a.png", (8, 8))
    assert invalid and scoremap.shape == (8, 8) and not scoremap.any()
