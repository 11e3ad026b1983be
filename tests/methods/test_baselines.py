"""The table's two reference rows: the centre Gaussian (no training) and the FSL baseline."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torchvision import tv_tensors

from wsol.methods.center import CenterBaseline, center_gaussian
from wsol.methods.fsl import FewShotBaseline, boxes_to_masks
from wsol.models import build_backbone


def test_center_map_peaks_at_the_centre_and_ignores_the_image():
    method = CenterBaseline(num_classes=3, sigma=0.2)
    a = method(torch.randn(2, 3, 20, 30)).class_maps
    b = method(torch.zeros(2, 3, 20, 30)).class_maps
    assert a.shape == (2, 3, 20, 30) and torch.equal(a, b)
    gaussian = a[0, 0]
    assert gaussian.max() == gaussian[9:11, 14:16].max()
    # Symmetric about the centre; ranking independent of sigma (same order of values).
    torch.testing.assert_close(gaussian, gaussian.flip(0).flip(1))
    other = center_gaussian(20, 30, sigma=0.5)
    in_order = gaussian.flatten()[other.flatten().argsort()]
    assert torch.all(in_order[1:] >= in_order[:-1] - 1e-6)
    assert list(method.parameters()) == []
    assert method.param_groups(lr=0.1, head_lr_mult=10.0) == []
    assert method.loss(method(torch.zeros(1, 3, 4, 4)), torch.tensor([0]))["loss"] == 0
    with pytest.raises(ValueError, match="sigma must be > 0"):
        CenterBaseline(num_classes=3, sigma=0)


def test_boxes_to_masks_fills_pixel_centres_inside():
    masks = boxes_to_masks([torch.tensor([[1.0, 2.0, 4.0, 3.0]]), torch.zeros(0, 4)], 5, 6)
    expected = torch.zeros(5, 6)
    expected[2, 1:4] = 1
    assert torch.equal(masks[0], expected) and masks[1].sum() == 0


def test_fsl_loss_is_bce_against_boxes_or_masks_and_trains_backbone_and_head():
    torch.manual_seed(0)
    method = FewShotBaseline(build_backbone("tiny"), num_classes=4)
    images, labels = torch.randn(2, 3, 32, 32), torch.tensor([0, 3])
    output = method(images, labels)
    assert output.class_maps.shape == (2, 4, 4, 4)
    assert torch.equal(output.class_maps[:, 0], output.class_maps[:, 3])
    assert torch.equal(output.logits, torch.zeros(2, 4))
    boxes = [
        tv_tensors.BoundingBoxes([[0, 0, 16, 16]], format="XYXY", canvas_size=(32, 32)),
        tv_tensors.BoundingBoxes([[8, 8, 32, 24]], format="XYXY", canvas_size=(32, 32)),
    ]
    up = F.interpolate(output.aux["foreground_logits"], size=(32, 32), mode="bilinear")[:, 0]
    target = boxes_to_masks(boxes, 32, 32)
    losses = method.loss(output, labels, boxes=boxes)
    torch.testing.assert_close(losses["loss"], F.binary_cross_entropy_with_logits(up, target))
    # Masks win over boxes; 255 is ignored.
    masks = (target > 0).to(torch.uint8)
    masks[:, :, :8] = 255
    keep = masks != 255
    by_mask = method.loss(output, labels, boxes=boxes, masks=masks)["loss"]
    reference = F.binary_cross_entropy_with_logits(up[keep], target[keep])
    torch.testing.assert_close(by_mask, reference)
    by_mask.backward()
    assert method.head.weight.grad is not None
    assert all(p.grad is not None for p in method.backbone.parameters() if p.requires_grad)
    with pytest.raises(ValueError, match="train_boxes"):
        method.loss(output, labels)
    names = [g["name"] for g in method.param_groups(lr=0.1, head_lr_mult=10.0)]
    assert "new" in names
