"""ACoLMethod on hand-built features and maps: erasing, gradients, fusion, label semantics."""

from __future__ import annotations

from functools import partial

import pytest
import torch
import torch.nn.functional as F

from tests.methods.stubs import FeatureBackbone, FixedMapHead, minmax64, record_inputs
from wsol.methods import ACoLMethod
from wsol.methods.acol import fuse_maps, label_attention, minmax_over_space
from wsol.models import build_backbone
from wsol.models.heads import ClassMapHead

B, C, K, H, W = 2, 3, 4, 3, 4


def _head(width: int):
    return partial(ClassMapHead, width=width)


def _features() -> torch.Tensor:
    torch.manual_seed(0)
    return torch.rand(B, C, H, W) + 0.5  # strictly positive: an erased position reads 0


def _method(maps_a=None, threshold=0.7, **kwargs) -> ACoLMethod:
    method = ACoLMethod(
        FeatureBackbone(_features()), K, erase_threshold=threshold, head=_head(6), **kwargs
    )
    if maps_a is not None:
        method.head_a = FixedMapHead(maps_a)
    return method


def _maps_with_label_channel(label_maps: dict[tuple[int, int], torch.Tensor]) -> torch.Tensor:
    torch.manual_seed(1)
    maps = torch.rand(B, K, H, W)
    for (image, channel), values in label_maps.items():
        maps[image, channel] = values
    return maps


def test_erases_exactly_the_positions_at_or_above_the_threshold():
    # Image 0, label 2: values in [0, 1], so normalization keeps them; 0.7 equals δ exactly.
    # Image 1, label 0: values in [2, 4]; normalized 0.5 and 0.75 hit δ = 0.5 / 0.75 exactly.
    a0 = torch.tensor([[0.0, 0.7, 0.69, 1.0], [0.3, 0.71, 0.7, 0.1], [0.5, 0.2, 0.9, 0.0]])
    a1 = torch.tensor([[2.0, 3.0, 3.5, 4.0], [2.5, 3.0, 2.0, 2.25], [3.5, 2.0, 2.0, 2.0]])
    maps = _maps_with_label_channel({(0, 2): a0, (1, 0): a1})
    labels = torch.tensor([2, 0])
    for threshold in (0.7, 0.5, 0.75):
        method = _method(maps, threshold)
        seen_b = record_inputs(method.head_b)
        output = method(torch.zeros(B, 3, 8, 8), labels)
        expected_attention = torch.stack([minmax64(a0), minmax64(a1)])
        torch.testing.assert_close(output.aux["attention"].double(), expected_attention)
        # Compared in the maps' precision (float32), as the method does: a value that equals δ
        # in float32 is erased.
        attention32 = expected_attention.float()
        erased = attention32 >= threshold
        on_threshold = attention32 == threshold
        assert on_threshold.any() and erased[on_threshold].all() and (~erased).any()
        features = _features()
        for channel in range(C):
            assert torch.equal(seen_b[0][:, channel] == 0, erased)
            assert torch.equal(seen_b[0][:, channel][~erased], features[:, channel][~erased])
        assert output.aux["erased_fraction"] == pytest.approx(erased.double().mean().item())


def test_erasing_follows_the_label_channel_only():
    # Three channels with disjoint peaks: each image erases its own label's peak; changing the
    # other channels changes nothing.
    peaks = {0: (0, 0), 1: (1, 2), 3: (2, 3)}
    maps = torch.zeros(B, K, H, W)
    for channel, (row, col) in peaks.items():
        maps[:, channel, row, col] = 1.0
    images = torch.zeros(B, 3, 8, 8)
    for pair in ((0, 1), (1, 3), (3, 0), (1, 1)):
        labels = torch.tensor(pair)
        expected = torch.zeros(B, H, W, dtype=torch.bool)
        for image, label in enumerate(pair):
            expected[image][peaks[label]] = True
        others = torch.ones(B, K, 1, 1)
        others[torch.arange(B), labels] = 0.0
        for variant in (maps, maps + 5 * torch.rand(B, K, H, W) * others):
            method = _method(variant)
            seen_b = record_inputs(method.head_b)
            output = method(images, labels)
            assert torch.equal(output.aux["erase_labels"], labels)
            assert torch.equal(output.aux["attention"] >= 0.7, expected)
            assert torch.equal((seen_b[0] == 0).all(dim=1), expected)


def test_branch_a_sees_the_original_features_and_b_the_erased_ones():
    method = _method()
    seen_a, seen_b = record_inputs(method.head_a), record_inputs(method.head_b)
    output = method(torch.zeros(B, 3, 8, 8), torch.tensor([1, 3]))
    features = _features()
    assert torch.equal(seen_a[0], features)
    erased = output.aux["attention"] >= 0.7
    assert erased.any()
    assert torch.equal(seen_b[0], features * (~erased).unsqueeze(1))


def test_no_gradient_through_the_attention_and_none_at_erased_positions():
    method = _method()
    output = method(torch.zeros(B, 3, 8, 8), torch.tensor([1, 3]))
    losses = method.loss(output, torch.tensor([1, 3]))
    losses["loss_b"].backward()
    # Branch A is reached only through the (detached) attention: loss_b leaves it untouched.
    assert all(p.grad is None for p in method.head_a.parameters())
    assert all(p.grad is not None for p in method.head_b.parameters())
    grad = method.backbone.features.grad
    erased = (output.aux["attention"] >= 0.7).unsqueeze(1).expand_as(grad)
    assert torch.all(grad[erased] == 0) and torch.all(grad[~erased] != 0)


def test_gradient_of_b_is_that_of_a_constant_mask():
    # No gradient through the mask or the attention: loss_b's gradient on the features is the
    # one of B applied to the features times a fixed 0/1 mask, and the attention is detached.
    method = _method()
    labels = torch.tensor([1, 3])
    output = method(torch.zeros(B, 3, 8, 8), labels)
    assert not output.aux["attention"].requires_grad
    method.loss(output, labels)["loss_b"].backward()
    keep = (output.aux["attention"] < 0.7).unsqueeze(1).float()
    assert 0 < keep.mean() < 1
    features = _features().requires_grad_(True)
    logits_b = method.head_b(features * keep)
    torch.autograd.backward(F.cross_entropy(logits_b, labels))
    torch.testing.assert_close(method.backbone.features.grad, features.grad)


def test_loss_terms():
    method = _method()
    labels = torch.tensor([0, 2])
    output = method(torch.zeros(B, 3, 8, 8), labels)
    losses = method.loss(output, labels)
    assert set(losses) == {"loss", "loss_a", "loss_b"}
    torch.testing.assert_close(losses["loss_a"], F.cross_entropy(output.logits, labels))
    torch.testing.assert_close(losses["loss_b"], F.cross_entropy(output.aux["logits_b"], labels))
    torch.testing.assert_close(losses["loss"], losses["loss_a"] + losses["loss_b"])


def test_fused_map_is_the_max_of_the_normalized_maps():
    method = _method()
    labels = torch.tensor([0, 2])
    output = method(torch.zeros(B, 3, 8, 8), labels)
    maps_a, maps_b = output.aux["maps_a"], output.aux["maps_b"]
    expected = torch.maximum(minmax64(maps_a.detach()), minmax64(maps_b.detach()))
    torch.testing.assert_close(output.class_maps.double(), expected)
    assert output.logits is not output.aux["logits_b"]
    torch.testing.assert_close(output.logits, maps_a.mean(dim=(2, 3)))
    cams = method.cams(output, labels)
    torch.testing.assert_close(cams[1].double(), expected[1, 2])


def test_fused_map_by_hand():
    # A wins at some positions and B at others; each is min-max normalized per channel first.
    a = torch.tensor([[0.0, 2.0], [4.0, 1.0]])  # normalized: [[0, .5], [1, .25]]
    b = torch.tensor([[-3.0, -5.0], [-5.0, -4.0]])  # normalized: [[1, 0], [0, .5]]
    method = ACoLMethod(FeatureBackbone(torch.rand(B, C, 2, 2)), 2, erase_threshold=0.7)
    method.head_a = FixedMapHead(torch.stack([a, 10 * a]).expand(B, 2, 2, 2))
    method.head_b = FixedMapHead(torch.stack([b, b]).expand(B, 2, 2, 2))
    output = method(torch.zeros(B, 3, 8, 8), torch.tensor([0, 1]))
    expected = torch.tensor([[1.0, 0.5], [1.0, 0.5]])
    for image in range(B):
        for channel in range(2):
            torch.testing.assert_close(output.class_maps[image, channel], expected)
    assert not output.class_maps.requires_grad


def test_constant_attention_erases_nothing_and_is_counted():
    maps = _maps_with_label_channel(
        {(0, 1): torch.full((H, W), 3.0), (1, 1): torch.full((H, W), float("nan"))}
    )
    method = _method(maps)
    seen_b = record_inputs(method.head_b)
    output = method(torch.zeros(B, 3, 8, 8), torch.tensor([1, 1]))
    assert torch.equal(output.aux["attention"], torch.zeros(B, H, W))
    assert torch.equal(output.aux["constant_attention"], torch.tensor([True, True]))
    assert output.aux["num_constant_attention"] == 2
    assert torch.equal(seen_b[0], _features())
    # A constant (or NaN) channel normalizes to 0 and adds nothing to the fused map.
    normalized_b = minmax64(output.aux["maps_b"].detach())
    torch.testing.assert_close(output.class_maps[:, 1].double(), normalized_b[:, 1])
    assert torch.isfinite(output.class_maps).all()
    # Documented: δ > 0, so an all-zero attention erases nothing for any allowed threshold.
    for threshold in (1e-6, 0.5, 0.99):
        output = _method(maps, threshold)(torch.zeros(B, 3, 8, 8), torch.tensor([1, 1]))
        assert output.aux["erased_fraction"] == 0


def test_minmax_helpers_flag_constant_maps():
    maps = torch.stack([torch.arange(6.0).view(2, 3), torch.ones(2, 3)]).unsqueeze(0)
    normalized, constant = minmax_over_space(maps)
    assert torch.equal(constant, torch.tensor([[False, True]]))
    torch.testing.assert_close(normalized[0, 0], torch.arange(6.0).view(2, 3) / 5)
    assert torch.equal(normalized[0, 1], torch.zeros(2, 3))
    attention, flag = label_attention(maps, torch.tensor([0]))
    torch.testing.assert_close(attention[0], normalized[0, 0])
    assert not flag.item()
    torch.testing.assert_close(
        fuse_maps(maps, maps.flip(-1)), torch.maximum(normalized, normalized.flip(-1))
    )


def test_label_semantics():
    # Label 1 and the prediction argmax(A) = 3 have different maps, hence different erasings.
    label_map = torch.tensor([[1.0, 0.0, 0.0, 0.0]] * H)
    predicted_map = torch.tensor([[0.0, 0.0, 0.0, 5.0]] * H)
    maps = torch.zeros(B, K, H, W)
    maps[:, 1], maps[:, 3] = label_map, predicted_map
    labels = torch.tensor([1, 1])
    images = torch.zeros(B, 3, 8, 8)

    method = _method(maps)
    assert torch.equal(method(images, labels).aux["erase_labels"], labels)
    assert torch.equal(method(images, None).aux["erase_labels"], torch.tensor([3, 3]))
    method.eval()  # WE: GT-known evaluation erases with the given labels
    output = method(images, labels)
    assert torch.equal(output.aux["erase_labels"], labels)
    assert torch.equal(output.aux["attention"][0], label_map)

    method = _method(maps, erase_with="prediction")
    assert torch.equal(method(images, labels).aux["erase_labels"], labels)  # training: labels
    method.eval()
    output = method(images, labels)
    assert torch.equal(output.aux["erase_labels"], torch.tensor([3, 3]))
    assert torch.equal(output.aux["attention"][0], predicted_map / 5)


def test_bad_arguments_are_named():
    backbone = FeatureBackbone(_features())
    with pytest.raises(ValueError, match="erase_threshold"):
        ACoLMethod(backbone, K, erase_threshold=0.0)
    with pytest.raises(ValueError, match="'gt'"):
        ACoLMethod(backbone, K, erase_with="gt")


def test_runs_end_to_end_on_tiny():
    torch.manual_seed(0)
    method = ACoLMethod(build_backbone("tiny"), num_classes=3, head=_head(16))
    labels = torch.tensor([0, 2])
    output = method(torch.randn(2, 3, 96, 96), labels)
    assert output.class_maps.shape == (2, 3, 12, 12)
    assert output.class_maps.min() >= 0 and output.class_maps.max() <= 1
    method.loss(output, labels)["loss"].backward()
    assert all(p.grad is not None for p in method.parameters())
