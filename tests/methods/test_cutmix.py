"""CutMix: the box from λ, λ from the pasted area, one box per batch, the mixed loss."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tests.methods.stubs import record_inputs
from wsol.methods.cutmix import CutMixMethod, cutmix_box, paste_box
from wsol.models import build_backbone


def test_box_sides_follow_lambda_and_clip_to_the_image():
    # λ = 0.75: sides sqrt(0.25) = 1/2 of 8 x 12 → 4 x 6, centred at (4, 6).
    assert cutmix_box(8, 12, 0.75, (4, 6)) == (2, 3, 6, 9)
    # Near a corner the box is clipped.
    assert cutmix_box(8, 12, 0.75, (0, 11)) == (0, 8, 2, 12)
    assert cutmix_box(8, 12, 1.0, (4, 6)) == (4, 6, 4, 6)  # λ = 1: empty box


def test_paste_takes_the_permuted_images_box_and_lambda_its_area():
    images = torch.arange(3.0).view(3, 1, 1, 1).expand(3, 2, 4, 5).clone()
    perm = torch.tensor([2, 0, 1])
    mixed, lam = paste_box(images, perm, (1, 1, 3, 4))  # 2 x 3 of 4 x 5 pixels
    assert lam == pytest.approx(1 - 6 / 20)
    for i in range(3):
        inside = mixed[i, :, 1:3, 1:4]
        assert torch.equal(inside, torch.full_like(inside, float(perm[i])))
        outside = mixed[i].clone()
        outside[:, 1:3, 1:4] = float(i)
        assert torch.equal(outside, images[i])
    assert torch.equal(images[:, 0, 0, 0], torch.arange(3.0))  # the input is left alone


def _method(**kwargs) -> CutMixMethod:
    torch.manual_seed(0)
    return CutMixMethod(build_backbone("tiny", widths=(4, 6, 8)), num_classes=4, **kwargs)


def test_training_batch_has_one_box_and_the_mixed_loss():
    method = _method().train()
    seen = record_inputs(method.backbone)
    images = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 3, 16, 16).clone()
    labels = torch.tensor([0, 1, 2, 3])
    torch.manual_seed(3)
    output = method(images, labels)
    mixed, lam = seen[-1], float(output.aux["mix_lambda"])
    foreign = mixed[:, 0] != images[:, 0]  # [B, H, W]: pixels that came from another image
    # One box for the whole batch (an image pasted onto itself shows no foreign pixels; the
    # others show the box), and λ is its area share.
    union = foreign.any(0)
    rows, cols = union.any(1).nonzero(), union.any(0).nonzero()
    box = (int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1)
    assert union.sum() == (box[2] - box[0]) * (box[3] - box[1])
    assert lam == pytest.approx(1 - int(union.sum()) / 256)
    mix_labels = output.aux["mix_labels"]
    for i in range(4):
        pasted = mixed[i, 0, box[0] : box[2], box[1] : box[3]]
        assert torch.equal(pasted, torch.full_like(pasted, float(mix_labels[i])))
    expected = lam * F.cross_entropy(output.logits, labels) + (1 - lam) * F.cross_entropy(
        output.logits, mix_labels
    )
    torch.testing.assert_close(method.loss(output, labels)["loss"], expected)
    assert sorted(mix_labels.tolist()) == [0, 1, 2, 3]  # a permutation of the labels
    assert float(method.extra_scalars(output)["mix_lambda"]) == pytest.approx(lam)


def test_lambda_is_uniform_before_clipping_with_alpha_one():
    method = _method(alpha=1.0).train()
    images, labels = torch.randn(2, 3, 32, 32), torch.tensor([0, 1])
    torch.manual_seed(0)
    lams = [float(method(images, labels).aux["mix_lambda"]) for _ in range(60)]
    assert min(lams) < 0.3 and max(lams) > 0.9  # spread over [0, 1], not a fixed value


def test_evaluation_and_unmixed_batches_are_plain_cam():
    images, labels = torch.randn(2, 3, 32, 32), torch.tensor([0, 1])
    method = _method(mix_prob=0.0).train()
    seen = record_inputs(method.backbone)
    output = method(images, labels)
    assert torch.equal(seen[-1], images) and "mix_labels" not in output.aux
    torch.testing.assert_close(
        method.loss(output, labels)["loss"], F.cross_entropy(output.logits, labels)
    )
    assert float(method.extra_scalars(output)["mix_lambda"]) == 1.0
    method = _method(mix_prob=1.0).eval()
    seen = record_inputs(method.backbone)
    method(images, labels)
    assert torch.equal(seen[-1], images)
    method.train()
    method(images, None)  # prediction without labels never mixes
    assert torch.equal(seen[-1], images)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="alpha"):
        _method(alpha=0.0)
    with pytest.raises(ValueError, match="mix_prob"):
        _method(mix_prob=-0.5)
