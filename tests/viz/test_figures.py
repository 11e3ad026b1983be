"""PNG saving of uint8 grids (pixel-exact) and figures."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image

from wsol.viz.figures import image_figure, save_png


def test_uint8_images_round_trip_exactly(tmp_path):
    image = torch.randint(0, 256, (3, 7, 9), dtype=torch.uint8)
    path = save_png(image, tmp_path / "sub" / "grid.png")
    read = np.asarray(Image.open(path))
    assert read.shape == (7, 9, 3)
    assert np.array_equal(read, image.permute(1, 2, 0).numpy())


def test_figures_and_bad_inputs(tmp_path):
    fig = image_figure(torch.zeros(3, 10, 20, dtype=torch.uint8), title="t")
    assert isinstance(fig, Figure)
    path = save_png(fig, tmp_path / "fig.png")
    assert Image.open(path).size == (600, 340)  # 6 in wide, aspect 1:2 plus the title, 100 dpi
    with pytest.raises(ValueError, match="uint8"):
        save_png(torch.zeros(3, 4, 4), tmp_path / "x.png")
    with pytest.raises(TypeError, match="uint8 tensor or a Figure"):
        save_png(np.zeros((4, 4)), tmp_path / "x.png")
