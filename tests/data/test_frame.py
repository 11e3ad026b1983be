"""GT boxes and masks into the evaluation frame: exact against the protocol and OpenCV."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from wsol.data.frame import boxes_to_frame, mask_to_frame, nearest_indices, resize_nearest


def reference_resize_bbox(box, image_size, resize_size):
    """The protocol's rule, written out: float coordinates, float division, truncation."""
    x0, y0, x1, y1 = map(float, box)
    w, h = map(float, image_size)
    nw, nh = map(float, resize_size)
    return int(x0 * nw / w), int(y0 * nh / h), int(x1 * nw / w), int(y1 * nh / h)


def reference_gt_mask(instances, ignore, frame):
    """The protocol's mask rule with cv2 itself doing the nearest resize."""
    fg = np.stack([cv2.resize(m, frame, interpolation=cv2.INTER_NEAREST) > 0.5 for m in instances])
    fg = fg.any(axis=0)
    ign = cv2.resize(ignore, frame, interpolation=cv2.INTER_NEAREST) > 0.5
    ign = np.logical_and(ign, np.logical_not(fg))
    return fg.astype(np.uint8) + 255 * ign.astype(np.uint8)


def test_boxes_match_the_reference_formula_everywhere():
    rng = np.random.default_rng(0)
    for _ in range(300):
        w, h = (int(v) for v in rng.integers(1, 1200, 2))
        frame = tuple(int(v) for v in rng.choice([224, 96, 448, 7], 2))
        x = np.sort(rng.integers(0, w, (50, 2)), axis=1)
        y = np.sort(rng.integers(0, h, (50, 2)), axis=1)
        boxes = np.stack([x[:, 0], y[:, 0], x[:, 1], y[:, 1]], axis=1)
        got = boxes_to_frame(boxes, (w, h), frame)
        assert got.dtype == torch.int64 and got.shape == (50, 4)
        expected = [reference_resize_bbox(b, (w, h), frame) for b in boxes.tolist()]
        assert got.tolist() == [list(e) for e in expected]


def test_box_examples_from_the_protocol():
    # A whole-image box of a 204-pixel-wide image ends at 222 in the 224 frame.
    assert boxes_to_frame([[0, 0, 203, 99]], (204, 100), (224, 224)).tolist() == [[0, 0, 222, 221]]
    assert boxes_to_frame([], (10, 10), (224, 224)).shape == (0, 4)


def test_every_coordinate_of_every_width_is_exact():
    # All x of all widths up to 700 into 224: no float32 shortcut survives this.
    for w in range(1, 700):
        xs = np.arange(w)
        got = boxes_to_frame(np.stack([xs, xs, xs, xs], 1), (w, w), (224, 224))[:, 0]
        assert got.tolist() == [int(float(x) * 224.0 / float(w)) for x in range(w)]


@pytest.mark.parametrize("src", [1, 2, 3, 5, 7, 12, 13, 96, 97, 100, 203, 224, 333, 500, 1021])
def test_nearest_indices_match_cv2(src):
    for dst in [1, 2, 3, 11, 12, 28, 95, 96, 100, 224, 225, 299, 448, 1000]:
        row = np.arange(src, dtype=np.float32)[None, :].repeat(2, axis=0)
        out = cv2.resize(row, (dst, 2), interpolation=cv2.INTER_NEAREST)[0]
        assert nearest_indices(src, dst).tolist() == out.astype(int).tolist(), (src, dst)


def test_resize_nearest_matches_cv2_on_random_sizes():
    rng = np.random.default_rng(1)
    for _ in range(300):
        sh, sw, dh, dw = (int(v) for v in rng.integers(1, 600, 4))
        image = rng.integers(0, 256, (sh, sw), dtype=np.uint8)
        expected = cv2.resize(image, (dw, dh), interpolation=cv2.INTER_NEAREST)
        assert np.array_equal(resize_nearest(image, (dw, dh)), expected), (sh, sw, dh, dw)


def test_mask_to_frame_matches_the_reference():
    rng = np.random.default_rng(2)
    for _ in range(40):
        h, w = (int(v) for v in rng.integers(5, 400, 2))
        frame = (224, 224) if rng.random() < 0.5 else tuple(int(v) for v in rng.integers(5, 300, 2))
        instances = [
            (rng.random((h, w)) < 0.1).astype(np.uint8) * int(rng.integers(1, 256))
            for _ in range(int(rng.integers(1, 4)))
        ]
        ignore = (rng.random((h, w)) < 0.2).astype(np.uint8) * 255
        got = mask_to_frame(instances, ignore, frame)
        assert got.dtype == torch.uint8 and got.shape == (frame[1], frame[0])
        assert np.array_equal(got.numpy(), reference_gt_mask(instances, ignore, frame))


def test_mask_values_and_no_ignore():
    mask = np.zeros((4, 4), dtype=np.uint8)
    mask[1, 1] = 1  # any grey level > 0.5 is foreground
    ignore = np.full((4, 4), 255, dtype=np.uint8)
    out = mask_to_frame([mask], ignore, (4, 4)).numpy()
    assert out[1, 1] == 1 and (out[out != 1] == 255).all()
    assert mask_to_frame([mask], None, (8, 8)).numpy().sum() == 4
