"""HaS: exact patch masks, the fill value, training-only hiding, and a trainable whole."""

from __future__ import annotations

import pytest
import torch

from tests.methods.stubs import record_inputs
from wsol.methods.has import HaSMethod, hide_patches
from wsol.models import build_backbone


def test_hidden_pixels_are_whole_grid_patches():
    torch.manual_seed(0)
    images = torch.randn(3, 2, 10, 7)  # 4 x 3 patches of side 3, the last ones cut
    out, hidden = hide_patches(images, grid=3, hide_prob=0.5, fill=-1.5)
    assert hidden.shape == (3, 10, 7)
    for b in range(3):
        for r0 in range(0, 10, 3):
            for c0 in range(0, 7, 3):
                patch = hidden[b, r0 : r0 + 3, c0 : c0 + 3]
                assert patch.all() or not patch.any()  # a patch is hidden as a whole
    mask = hidden[:, None].expand_as(images)
    assert torch.equal(out[mask], torch.full_like(out[mask], -1.5))
    assert torch.equal(out[~mask], images[~mask])
    # Patches are drawn per image: the three images do not share one pattern.
    assert not (torch.equal(hidden[0], hidden[1]) and torch.equal(hidden[1], hidden[2]))


def test_hide_prob_extremes_and_rate():
    images = torch.randn(2, 3, 8, 8)
    out, hidden = hide_patches(images, grid=4, hide_prob=0.0)
    assert not hidden.any() and torch.equal(out, images)
    out, hidden = hide_patches(images, grid=4, hide_prob=1.0)
    assert hidden.all() and not out.any()  # default fill 0: the mean of normalized inputs
    torch.manual_seed(1)
    _, hidden = hide_patches(torch.zeros(400, 1, 4, 4), grid=2, hide_prob=0.5)
    assert 0.45 < hidden.float().mean() < 0.55


def _method(**kwargs) -> HaSMethod:
    torch.manual_seed(0)
    return HaSMethod(build_backbone("tiny", widths=(4, 6, 8)), num_classes=3, **kwargs)


def test_training_hides_and_evaluation_sees_the_whole_image():
    method = _method(grid=8, hide_prob=1.0, fill=0.25)
    seen = record_inputs(method.backbone)
    images = torch.randn(2, 3, 32, 32)
    method.train()
    output = method(images, torch.tensor([0, 1]))
    assert torch.equal(seen[-1], torch.full_like(images, 0.25))
    assert output.aux["hidden"].all()
    assert float(method.extra_scalars(output)["hidden_fraction"]) == 1.0
    method.eval()
    output = method(images, torch.tensor([0, 1]))
    assert torch.equal(seen[-1], images) and "hidden" not in output.aux
    assert method.extra_scalars(output) == {}


def test_trains_end_to_end():
    method = _method()
    labels = torch.tensor([0, 2])
    output = method(torch.randn(2, 3, 32, 32), labels)
    method.loss(output, labels)["loss"].backward()
    assert all(p.grad is not None for p in method.parameters())


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="grid"):
        _method(grid=0)
    with pytest.raises(ValueError, match="hide_prob"):
        _method(hide_prob=1.5)
