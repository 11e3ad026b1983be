"""CAMMethod: one forward pass for logits and maps, CE loss, CAM selection."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from wsol.methods import CAMMethod
from wsol.models import build_backbone


def test_forward_loss_and_cams_on_tiny():
    torch.manual_seed(0)
    method = CAMMethod(build_backbone("tiny"), num_classes=5)
    images, labels = torch.randn(2, 3, 96, 96), torch.tensor([1, 4])
    output = method(images, labels)
    assert output.logits.shape == (2, 5) and output.class_maps.shape == (2, 5, 12, 12)
    features = method.backbone(images)
    reference = method.head.fc(features.mean(dim=(2, 3)))
    torch.testing.assert_close(output.logits, reference, atol=1e-5, rtol=0)
    losses = method.loss(output, labels)
    assert set(losses) == {"loss"}
    torch.testing.assert_close(losses["loss"], F.cross_entropy(output.logits, labels))
    cams = method.cams(output, torch.tensor([3, 0]))
    assert torch.equal(cams[0], output.class_maps[0, 3]) and torch.equal(
        cams[1], output.class_maps[1, 0]
    )
    losses["loss"].backward()
    assert all(p.grad is not None for p in method.parameters())


def test_optimizer_accepts_the_groups():
    method = CAMMethod(build_backbone("tiny"), num_classes=3)
    groups = method.param_groups(lr=0.1, head_lr_mult=10.0)
    optimizer = torch.optim.SGD(groups, momentum=0.9, nesterov=True)
    assert [g["name"] for g in optimizer.param_groups] == ["pretrained", "new"]
    assert [g["lr"] for g in optimizer.param_groups] == [0.1, 1.0]
