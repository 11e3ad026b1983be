"""Bad inputs raise clear errors that name the problem and the image, and change no state."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wsol.metrics import LocalizationAccuracy, MaxBoxAcc, PxAP, WSOLMetrics


def maps(n: int = 3, h: int = 8, w: int = 10) -> torch.Tensor:
    return torch.rand(n, h, w, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


BOXES = [torch.tensor([[1, 1, 4, 4]])] * 3


@pytest.mark.parametrize(
    ("scoremaps", "boxes", "error", "match"),
    [
        (maps()[0], BOXES[:1], ValueError, r"scoremaps must be \[N, H, W\], got shape \(8, 10\)"),
        (maps().long(), BOXES, TypeError, "scoremaps must be float16/32/64, got dtype int64"),
        (maps().bfloat16(), BOXES, TypeError, "bfloat16 is not supported"),
        (maps().index_fill(0, torch.tensor([1]), float("nan")), BOXES, ValueError,
         r"scoremaps\[1\] contains NaN"),
        (maps().index_fill(0, torch.tensor([2]), 1.5), BOXES, ValueError,
         r"scoremaps\[2\] has values outside \[0, 1\] \(min=1.5, max=1.5\)"),
        (maps() - 0.5, BOXES, ValueError, r"scoremaps\[0\] has values outside \[0, 1\]"),
        (maps(), BOXES[:2], ValueError, r"len\(gt_boxes\) = 2 but scoremaps hold N = 3 images"),
        (maps(), [torch.tensor([[1, 1, 4, 4]]), torch.zeros(0, 4), torch.tensor([[0, 0, 1, 1]])],
         ValueError, r"gt_boxes\[1\] is empty: every image needs at least one box"),
        (maps(), [torch.tensor([[1, 1, 4, 4]]), torch.tensor([[5, 1, 4, 4]]), BOXES[0]],
         ValueError, r"gt_boxes\[1\]\[0\] = \[5, 1, 4, 4\]: x0 > x1"),
        (maps(), [BOXES[0], BOXES[0], torch.tensor([[1, 1, 2, 2], [1, 6, 4, 4]])],
         ValueError, r"gt_boxes\[2\]\[1\] = \[1, 6, 4, 4\]: y0 > y1"),
        (maps(), [BOXES[0], torch.tensor([[1, 1, 10, 4]]), BOXES[0]], ValueError,
         r"gt_boxes\[1\]\[0\] = \[1, 1, 10, 4\]: x1 > W - 1 = 9"),
        (maps(), [BOXES[0], BOXES[0], torch.tensor([[1, 1, 4, 8]])], ValueError,
         r"gt_boxes\[2\]\[0\] = \[1, 1, 4, 8\]: y1 > H - 1 = 7"),
        (maps(), [torch.tensor([[-1, 1, 4, 4]]), BOXES[0], BOXES[0]], ValueError,
         r"gt_boxes\[0\]\[0\] = \[-1, 1, 4, 4\]: negative coordinate"),
        (maps(), [BOXES[0], torch.tensor([[1.5, 1, 4, 4]]), BOXES[0]], ValueError,
         r"gt_boxes\[1\]\[0\] = \[1.5, 1.0, 4.0, 4.0\]: must hold integer pixel coordinates"),
        (maps(), [BOXES[0], torch.tensor([[1, 1, 4]]), BOXES[0]], ValueError,
         r"gt_boxes\[1\] must be \[K, 4\], got shape \(1, 3\)"),
        (maps(), torch.tensor([[1, 1, 4, 4]] * 3), ValueError,
         r"one \[K, 4\] box array per image"),
    ],
)  # fmt: skip
def test_maxboxacc_rejects(scoremaps, boxes, error, match):
    metric = MaxBoxAcc()
    with pytest.raises(error, match=match):
        metric.update(scoremaps, boxes)
    assert int(metric.n_images) == 0 and int(metric.correct.sum()) == 0


@pytest.mark.parametrize(
    ("masks", "error", "match"),
    [
        (torch.zeros(3, 8, 9, dtype=torch.uint8), ValueError,
         r"gt_masks shape \(3, 8, 9\) does not match scoremaps shape \(3, 8, 10\)"),
        (torch.zeros(3, 8, 10), TypeError, "gt_masks must be an integer"),
        (torch.zeros(3, 8, 10, dtype=torch.uint8).index_fill(0, torch.tensor([2]), 2),
         ValueError, r"gt_masks\[2\] has values other than 0, 1, 255: \[2\]"),
        (torch.full((3, 8, 10), 300, dtype=torch.int32), ValueError,
         r"gt_masks\[0\] has values other than 0, 1, 255: \[300\]"),
    ],
)  # fmt: skip
def test_pxap_rejects(masks, error, match):
    metric = PxAP()
    with pytest.raises(error, match=match):
        metric.update(maps(), masks)
    assert int(metric.hist_fg.sum()) == 0 and int(metric.hist_bg.sum()) == 0


def test_pxap_without_foreground_is_an_error():
    metric = PxAP()
    metric.update(maps(), torch.zeros(3, 8, 10, dtype=torch.uint8))
    with pytest.raises(ValueError, match="PxAP: no foreground pixel"):
        metric.compute()


def test_compute_without_update_is_an_error():
    with pytest.raises(ValueError, match="no image was given"), pytest.warns(UserWarning):
        MaxBoxAcc().compute()
    with pytest.raises(ValueError, match="no image was given"), pytest.warns(UserWarning):
        WSOLMetrics().compute()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"cam_curve_interval": 0}, r"cam_curve_interval must be in \[1e-5, 1\)"),
        ({"cam_curve_interval": 1.5}, r"cam_curve_interval must be in \[1e-5, 1\)"),
        ({"iou_thresholds": ()}, r"iou_thresholds must be percentages"),
        ({"iou_thresholds": (0.5,)}, None),  # allowed: a (strange) 0.5 % threshold
        ({"iou_thresholds": (150,)}, r"iou_thresholds must be percentages"),
    ],
)
def test_bad_arguments(kwargs, match):
    if match is None:
        MaxBoxAcc(**kwargs)
        return
    with pytest.raises(ValueError, match=match):
        MaxBoxAcc(**kwargs)


def test_localization_rejects_bad_labels_and_logits():
    metric = LocalizationAccuracy()
    logits = torch.zeros(3, 4)
    with pytest.raises(ValueError, match=r"labels\[1\] = 4 is outside \[0, K = 4\)"):
        metric.update(maps(), BOXES, torch.tensor([0, 4, 1]), logits)
    with pytest.raises(ValueError, match=r"labels must be \[N\] with N = 3"):
        metric.update(maps(), BOXES, torch.tensor([0, 1]), logits)
    with pytest.raises(ValueError, match=r"logits must be \[N, K\] with N = 3"):
        metric.update(maps(), BOXES, torch.tensor([0, 1, 2]), torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"logits\[2\] is not finite"):
        metric.update(
            maps(), BOXES, torch.tensor([0, 1, 2]), logits.index_fill(0, torch.tensor([2]), np.nan)
        )
    with pytest.raises(TypeError, match="labels must be integers"):
        metric.update(maps(), BOXES, torch.tensor([0.0, 1.0, 2.0]), logits)
    with pytest.raises(ValueError, match=r"a CAM threshold must be in \[0, 1\]"):
        metric.set_threshold(1.2)
    assert int(metric.n_images) == 0


def test_wsol_metrics_mask_arguments():
    labels, logits = torch.tensor([0, 1, 2]), torch.zeros(3, 4)
    with pytest.raises(ValueError, match=r"with_masks=True\)\.update needs gt_masks"):
        WSOLMetrics(with_masks=True).update(maps(), BOXES, labels, logits)
    with pytest.raises(ValueError, match="gt_masks given to WSOLMetrics\\(with_masks=False\\)"):
        WSOLMetrics().update(
            maps(), BOXES, labels, logits, torch.zeros(3, 8, 10, dtype=torch.uint8)
        )
    with pytest.raises(ValueError, match="needs gt_boxes"):
        WSOLMetrics().update(maps(), None, labels, logits)
    metric = WSOLMetrics(with_masks=True)
    masks = torch.ones(3, 8, 10, dtype=torch.uint8)
    metric.update(maps(), BOXES, labels, logits, masks)
    metric.update(maps(), None, labels, logits, masks)
    with pytest.raises(ValueError, match="gt_boxes were given for 3 of 6 images"):
        metric.compute()
