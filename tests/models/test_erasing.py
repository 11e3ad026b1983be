"""erase_above_threshold: which positions, all channels, and where gradients flow."""

from __future__ import annotations

import pytest
import torch

from wsol.models import erase_above_threshold


def test_erases_exactly_where_attention_reaches_the_threshold():
    attention = torch.tensor([[[0.0, 0.5, 0.7], [0.69, 0.71, 1.0]]])  # 0.7 sits exactly on δ
    features = torch.rand(1, 3, 2, 3) + 1.0
    erased = erase_above_threshold(features, attention, 0.7)
    expected_zero = torch.tensor([[False, False, True], [False, True, True]])
    for channel in range(3):
        assert torch.equal(erased[0, channel] == 0, expected_zero)
        assert torch.equal(erased[0, channel][~expected_zero], features[0, channel][~expected_zero])


def test_gradient_reaches_kept_positions_only_and_never_the_attention():
    features = torch.rand(2, 4, 3, 3, requires_grad=True)
    attention = torch.rand(2, 3, 3, requires_grad=True)
    erased = erase_above_threshold(features, attention, 0.5)
    erased.sum().backward()
    kept = (attention < 0.5).unsqueeze(1).expand_as(features).float()
    assert torch.equal(features.grad, kept)
    assert attention.grad is None


def test_nan_attention_erases_nothing_and_threshold_above_one_neither():
    features = torch.rand(1, 2, 2, 2)
    nan = torch.full((1, 2, 2), float("nan"))
    assert torch.equal(erase_above_threshold(features, nan, 0.7), features)
    assert torch.equal(erase_above_threshold(features, torch.ones(1, 2, 2), 1.01), features)


def test_shape_mismatch_is_reported():
    with pytest.raises(ValueError, match=r"\[2, 5, 5\]"):
        erase_above_threshold(torch.rand(2, 3, 4, 4), torch.rand(2, 5, 5), 0.5)
