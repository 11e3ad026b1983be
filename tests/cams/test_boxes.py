"""Predicted boxes: the protocol's extraction at one threshold, and the way back to the image."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wsol.cams.boxes import boxes_to_original, cam_boxes
from wsol.data.frame import boxes_to_frame
from wsol.metrics import reference


def test_single_hot_pixel_gives_the_protocol_box():
    scoremap = np.zeros((224, 224))
    scoremap[60, 120] = 1.0
    for multi in (False, True):
        assert cam_boxes(scoremap, 0.5, multi).tolist() == [[120, 60, 121, 61]]


@pytest.mark.parametrize("multi", [False, True])
def test_boxes_match_the_independent_reference(multi):
    rng = np.random.default_rng(0)
    for _ in range(5):
        coarse = torch.from_numpy(rng.random((1, 1, 7, 7)))
        scoremap = torch.nn.functional.interpolate(coarse, size=(56, 56), mode="bicubic")[0, 0]
        scoremap = (scoremap - scoremap.min()) / (scoremap.max() - scoremap.min())
        for threshold in (0.0, 0.3, 0.61, 0.9):
            ours = cam_boxes(scoremap, threshold, multi).numpy()
            expected = reference.boxes_at_threshold(
                reference.quantize(scoremap.numpy()), threshold, multi
            )
            assert sorted(map(tuple, ours)) == sorted(map(tuple, expected)), (threshold, multi)


def test_nothing_above_the_threshold_is_the_zero_box():
    assert cam_boxes(torch.zeros(8, 8), 0.5, False).tolist() == [[0, 0, 0, 0]]


def test_same_size_maps_boxes_unchanged():
    boxes = torch.tensor([[0, 0, 95, 95], [10, 20, 30, 40]])
    assert torch.equal(boxes_to_original(boxes, (96, 96), (96, 96)), boxes)


def test_boxes_cover_the_original_pixels_of_the_frame_pixels():
    # Frame 100 x 100 of a 1000 (H) x 1500 (W) image: a frame pixel is 15 x 10 original pixels.
    boxes = torch.tensor([[0, 0, 0, 0], [10, 20, 19, 29], [99, 99, 99, 99]])
    out = boxes_to_original(boxes, (100, 100), (1000, 1500))
    assert out.tolist() == [[0, 0, 14, 9], [150, 200, 299, 299], [1485, 990, 1499, 999]]


def test_frame_and_back_contains_the_gt_box():
    rng = np.random.default_rng(1)
    for _ in range(50):
        width, height = (int(v) for v in rng.integers(20, 2000, size=2))
        x0, x1 = sorted(int(v) for v in rng.integers(0, width, size=2))
        y0, y1 = sorted(int(v) for v in rng.integers(0, height, size=2))
        frame = boxes_to_frame([[x0, y0, x1, y1]], (width, height), (224, 224))
        back = boxes_to_original(frame, (224, 224), (height, width))[0].tolist()
        # The protocol truncates into the frame; the way back covers whole frame pixels.
        assert back[0] <= x0 and back[1] <= y0 and back[2] >= x1 and back[3] >= y1
        assert 0 <= back[0] and 0 <= back[1] and back[2] < width and back[3] < height
        assert back[2] - x1 <= width / 224 + 1 and x0 - back[0] <= width / 224 + 1
