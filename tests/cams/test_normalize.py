"""Score-map pipeline: class picking, bicubic upsampling equal to OpenCV's INTER_CUBIC, min-max per
image with one rule for NaN, infinite and constant maps."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from wsol.cams.normalize import minmax_normalize, upsample_cams
from wsol.cams.pipeline import scoremaps


def _max_diff_to_opencv(low: tuple[int, int], size: tuple[int, int]) -> float:
    cams = torch.rand(3, *low, generator=torch.Generator().manual_seed(1)) * 5 - 1
    up = upsample_cams(cams, size)
    assert up.dtype == torch.float64 and tuple(up.shape) == (3, *size)
    diff = 0.0
    for cam, mine in zip(cams, up, strict=True):
        # cv2.resize takes (width, height); the reference resizes float64 CAMs.
        theirs = cv2.resize(cam.double().numpy(), (size[1], size[0]), interpolation=cv2.INTER_CUBIC)
        diff = max(diff, float(np.abs(mine.numpy() - theirs).max()))
    return diff


@pytest.mark.parametrize(
    ("low", "size"), [((7, 7), (224, 224)), ((14, 14), (224, 224)), ((28, 28), (224, 224)),
                      ((14, 10), (28, 40))]
)  # fmt: skip
def test_bicubic_matches_opencv_inter_cubic(low, size):
    """Integer scale factors (the CAM sizes of a 224 frame): equal to rounding."""
    assert _max_diff_to_opencv(low, size) < 1e-12


def test_bicubic_non_integer_factor_differs_from_opencv_by_float32_weights():
    """OpenCV computes the cubic weights in float32: with a non-integer scale factor the
    two differ by ~1e-6 (enough to move a u8 quantization step now and then)."""
    assert 1e-9 < _max_diff_to_opencv((14, 10), (100, 150)) < 1e-5


def test_bilinear_would_not_match():
    cams = torch.rand(1, 7, 7, generator=torch.Generator().manual_seed(2))
    theirs = cv2.resize(cams[0].double().numpy(), (224, 224), interpolation=cv2.INTER_CUBIC)
    bilinear = torch.nn.functional.interpolate(
        cams[:, None].double(), size=(224, 224), mode="bilinear", align_corners=False
    )[0, 0]
    assert np.abs(bilinear.numpy() - theirs).max() > 1e-3


def test_minmax_is_the_reference_arithmetic():
    maps = torch.randn(4, 9, 11, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    out, invalid = minmax_normalize(maps)
    assert not invalid.any() and out.dtype == torch.float64
    for x, y in zip(maps.numpy(), out.numpy(), strict=True):
        ref = x.copy()
        ref -= ref.min()  # the reference normalizes in place like this
        ref /= ref.max()
        assert np.array_equal(ref, y)
        assert y.min() == 0.0 and y.max() == 1.0


def test_nan_inf_and_constant_maps_become_zeros_and_are_flagged():
    maps = torch.rand(5, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    maps[1, 2, 3] = float("nan")
    maps[2] = 0.25
    maps[3, 0, 0] = float("inf")
    out, invalid = minmax_normalize(maps)
    assert invalid.tolist() == [False, True, True, True, False]
    assert (out[1:4] == 0).all() and not torch.isnan(out).any()
    assert out[0].max() == 1.0 and out[4].min() == 0.0


def test_pipeline_scoremaps_of_cams_feed_the_metrics():
    from wsol.metrics import MaxBoxAcc

    cams = torch.zeros(2, 7, 7)
    cams[0, 2:4, 2:4] = 3.0
    maps, invalid = scoremaps(cams, (56, 56))
    assert invalid.tolist() == [False, True]  # the second CAM is constant
    assert maps.dtype == torch.float64 and tuple(maps.shape) == (2, 56, 56)
    assert maps.min() >= 0 and maps.max() <= 1
    metric = MaxBoxAcc()
    metric.update(maps, [[[12, 12, 35, 35]], [[0, 0, 0, 0]]])
    assert 0 <= float(metric.compute()["value"]) <= 100


def test_shape_errors():
    with pytest.raises(ValueError, match=r"cams must be \[B, h, w\]"):
        upsample_cams(torch.zeros(7, 7), (14, 14))
    with pytest.raises(ValueError, match=r"maps must be \[B, H, W\]"):
        minmax_normalize(torch.zeros(7, 7))


def test_pipeline_picks_each_images_class_then_upsamples_and_normalizes():
    maps = torch.randn(3, 4, 7, 7, generator=torch.Generator().manual_seed(5))
    maps[2, 1] = 0.5  # the picked map of image 2 is constant
    ids = torch.tensor([3, 0, 1])
    out, invalid = scoremaps(maps, (28, 28), ids)
    expected, expected_invalid = minmax_normalize(
        upsample_cams(maps[[0, 1, 2], [3, 0, 1]], (28, 28))
    )
    assert torch.equal(out, expected) and torch.equal(invalid, expected_invalid)
    assert invalid.tolist() == [False, False, True] and out.dtype == torch.float64
    same, _ = scoremaps(maps[[0, 1, 2], [3, 0, 1]], (28, 28))  # [B, h, w] maps directly
    assert torch.equal(same, out)


def test_normalize_does_not_import_the_pipeline():
    """The two steps know nothing of the pipeline built on them (no import cycle, no alias)."""
    import ast
    import inspect

    import wsol.cams.normalize as normalize

    tree = ast.parse(inspect.getsource(normalize))
    imported = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    assert not any(name and name.startswith("wsol") for name in imported), imported
    assert not hasattr(normalize, "scoremaps_from_cams")


@pytest.mark.parametrize(
    ("maps", "ids", "match"),
    [
        (torch.zeros(2, 3, 7, 7), None, r"need class_ids \[B\]"),
        (torch.zeros(2, 7, 7), torch.tensor([0, 1]), "pass class_ids=None"),
        (torch.zeros(2, 3, 7, 7), torch.tensor([0, 3]), r"class_ids must lie in \[0, 2\]"),
        (torch.zeros(2, 3, 7, 7), torch.tensor([0]), "class_ids has 1 entries for 2 maps"),
        (torch.zeros(7, 7), None, r"maps must be \[B, K, h, w\] or \[B, h, w\]"),
    ],
)
def test_pipeline_rejects_inconsistent_maps_and_classes(maps, ids, match):
    with pytest.raises(ValueError, match=match):
        scoremaps(maps, (14, 14), ids)


def test_minmax_normalizes_each_map_of_more_leading_dims():
    """[B, K, H, W]: every (image, class) map on its own, the same rule for NaN/inf/constant."""
    maps = torch.rand(2, 3, 5, 5, generator=torch.Generator().manual_seed(6))
    maps[0, 1] = 2.0
    maps[1, 2, 0, 0] = float("inf")
    out, invalid = minmax_normalize(maps)
    assert invalid.tolist() == [[False, True, False], [False, False, True]]
    flat, flat_invalid = minmax_normalize(maps.reshape(6, 5, 5))
    assert torch.equal(out.reshape(6, 5, 5), flat) and torch.equal(invalid.reshape(6), flat_invalid)
