"""SPG: seed masks and losses against hand computations; branches, shapes, training."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from wsol.methods.spg_seeds import (
    SEED_BACKGROUND as BG,
)
from wsol.methods.spg_seeds import (
    SEED_FOREGROUND as FG,
)
from wsol.methods.spg_seeds import (
    SEED_IGNORE as IG,
)
from wsol.methods.spg_seeds import (
    fused_attention,
    label_attention,
    seed_fractions,
    seed_loss,
    seed_mask,
)

# ---------------------------------------------------------------- seed masks by hand


def test_seed_mask_thresholds_are_strict():
    attention = torch.tensor([[[0.9, 0.7, 0.5, 0.1, 0.05, 0.0]]])
    mask = seed_mask(attention, high=0.7, low=0.1, min_foreground=1)
    # 0.9 > 0.7: foreground; 0.7 is not > 0.7; 0.1 is not < 0.1; 0.05 and 0 are background.
    assert mask.tolist() == [[[FG, IG, IG, IG, BG, BG]]]
    assert mask.dtype == torch.uint8


def test_too_few_foreground_pixels_fall_back_to_a_share_of_the_maximum():
    attention = torch.tensor([[[0.6, 0.5, 0.4, 0.3, 0.2, 0.0]], [[0.9, 0.8, 0.4, 0.3, 0.2, 0.0]]])
    mask = seed_mask(attention, high=0.7, low=0.1, min_foreground=2, fallback_ratio=0.7)
    # Image 0: nothing > 0.7 (0 < 2 pixels): foreground is > 0.7 * 0.6 = 0.42 → 0.6, 0.5.
    # Image 1: two pixels > 0.7 (not fewer than 2): no fallback.
    assert mask.tolist() == [[[FG, FG, IG, IG, IG, BG]], [[FG, FG, IG, IG, IG, BG]]]
    # With min_foreground 3 image 1 falls back too.
    mask = seed_mask(attention, high=0.7, low=0.1, min_foreground=3, fallback_ratio=0.4)
    # Image 0: > 0.24 → 0.6, 0.5, 0.4, 0.3; image 1: > 0.36 → 0.9, 0.8, 0.4.
    assert mask.tolist() == [[[FG, FG, FG, FG, IG, BG]], [[FG, FG, FG, IG, IG, BG]]]


def test_background_wins_over_foreground_and_ignored_images_are_all_ignore():
    # A faint map: the fallback foreground (> 0.7 * 0.04) lies below `low`, so background wins.
    attention = torch.tensor([[[0.04, 0.035, 0.0]], [[0.9, 0.5, 0.0]]])
    mask = seed_mask(attention, high=0.7, low=0.05, min_foreground=1)
    assert mask.tolist() == [[[BG, BG, BG]], [[FG, IG, BG]]]
    mask = seed_mask(
        attention, 0.7, 0.05, min_foreground=1, ignore_images=torch.tensor([0, 1]).bool()
    )
    assert mask.tolist() == [[[BG, BG, BG]], [[IG, IG, IG]]]


def _reference_mask(attention, high, low, min_foreground=30, ratio=0.7):
    """The benchmark's per-image loop, written out (float mask with 255 for ignore)."""
    mask = torch.full_like(attention, 255.0)
    for b in range(attention.shape[0]):
        chosen = attention[b] > high
        if chosen.sum() < min_foreground:
            chosen = attention[b] > attention[b].max() * ratio
        mask[b][chosen] = 1.0
    mask[attention < low] = 0.0
    return mask


def test_seed_mask_equals_the_reference_loop_on_random_maps():
    torch.manual_seed(0)
    attention = torch.rand(6, 40, 40) ** 3  # some images with < 30 pixels above 0.7
    attention[2] *= 0.5  # none above 0.7: falls back
    for high, low in ((0.7, 0.01), (0.5, 0.05), (0.7, 0.1)):
        got = seed_mask(attention, high, low)
        assert torch.equal(got.float(), _reference_mask(attention, high, low))


def test_seed_fractions():
    mask = torch.tensor([[[FG, BG, IG, BG]]], dtype=torch.uint8)
    foreground, background = seed_fractions(mask)
    assert float(foreground) == 0.25 and float(background) == 0.5


# ---------------------------------------------------------------- attention maps by hand


def test_label_attention_upsamples_then_normalizes_and_flags_constant_maps():
    maps = torch.zeros(2, 3, 2, 2)
    maps[0, 1] = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    maps[0, 0] = 100.0  # another class: not read
    maps[1, 2] = 5.0  # constant
    maps.requires_grad_(True)
    attention, constant = label_attention(maps, torch.tensor([1, 2]), (4, 4))
    assert not attention.requires_grad and constant.tolist() == [False, True]
    # Bilinear 2x2 → 4x4 (align_corners=False): rows/cols at source positions -0.25, 0.25,
    # 0.75, 1.25 clamped to [0, 1]: weights 0, 0.25, 0.75, 1 on the second row/column.
    w = torch.tensor([0.0, 0.25, 0.75, 1.0])
    up = (w[:, None] * 2.0) + w[None, :]  # value = 2 * row weight + column weight
    expected = (up - up.min()) / (up.max() - up.min())
    torch.testing.assert_close(attention[0], expected)
    assert torch.equal(attention[1], torch.zeros(4, 4))


def test_upsampling_first_changes_the_normalization():
    # A peak on a 3x3 map: upsampled, its maximum falls below the source maximum, and
    # normalizing before upsampling would give a different map (the benchmark upsamples first).
    maps = torch.zeros(1, 1, 3, 3)
    maps[0, 0, 1, 1] = 1.0
    attention, _ = label_attention(maps, torch.tensor([0]), (12, 12))
    normalized_first = F.interpolate(maps, size=(12, 12), mode="bilinear")[0, 0]
    assert float(attention.max()) == 1.0
    assert float(normalized_first.max()) < 1.0


def test_fused_attention_is_the_mean_of_the_branch_probabilities():
    b1 = torch.zeros(1, 1, 2, 2, requires_grad=True)
    b2 = torch.full((1, 1, 2, 2), math.log(3.0), requires_grad=True)  # sigmoid = 0.75
    fused = fused_attention(b1, b2, (4, 4))
    assert fused.shape == (1, 4, 4) and not fused.requires_grad
    torch.testing.assert_close(fused, torch.full((1, 4, 4), (0.5 + 0.75) / 2))


# ---------------------------------------------------------------- seed losses by hand


def test_seed_loss_is_bce_over_the_kept_pixels():
    logits = torch.tensor([[[[2.0, -1.0], [0.5, 3.0]]]], requires_grad=True)
    mask = torch.tensor([[[FG, BG], [IG, BG]]], dtype=torch.uint8)
    loss, count = seed_loss(logits, mask)
    # -log σ(2) - log(1 - σ(-1)) - log(1 - σ(3)), over 3 pixels.
    sig = torch.sigmoid
    expected = (
        -(
            torch.log(sig(torch.tensor(2.0)))
            + torch.log(1 - sig(torch.tensor(-1.0)))
            + torch.log(1 - sig(torch.tensor(3.0)))
        )
        / 3
    )
    torch.testing.assert_close(loss, expected)
    assert int(count) == 3
    loss.backward()
    assert logits.grad[0, 0, 1, 0] == 0 and logits.grad[0, 0, 0, 0] < 0


def test_seed_loss_upsamples_the_logits_to_the_mask():
    logits = torch.randn(2, 1, 3, 3)
    mask = torch.randint(0, 2, (2, 12, 12), dtype=torch.uint8)
    loss, count = seed_loss(logits, mask)
    up = F.interpolate(logits, size=(12, 12), mode="bilinear", align_corners=False)[:, 0]
    torch.testing.assert_close(loss, F.binary_cross_entropy_with_logits(up, mask.float()))
    assert int(count) == 2 * 144


def test_a_seed_loss_with_nothing_kept_is_zero_and_attached():
    logits = torch.randn(2, 1, 3, 3, requires_grad=True)
    loss, count = seed_loss(logits, torch.full((2, 6, 6), IG, dtype=torch.uint8))
    assert float(loss.detach()) == 0.0 and int(count) == 0
    loss.backward()
    assert torch.equal(logits.grad, torch.zeros_like(logits))


# ---------------------------------------------------------------- the method on hand-made outputs


def _output(maps, logits_b1, logits_b2, logits_c, labels, frame):
    """A MethodOutput as SPGMethod.forward builds it, from hand-made maps."""
    attention, constant = label_attention(maps, labels, frame)
    aux = {
        "logits_b1": logits_b1,
        "logits_b2": logits_b2,
        "logits_c": logits_c,
        "attention": attention,
        "constant_attention": constant,
        "fused_attention": fused_attention(logits_b1, logits_b2, frame),
    }
    return MethodOutput(logits=maps.mean(dim=(2, 3)), class_maps=maps, aux=aux)


def test_loss_sums_cross_entropy_and_the_three_seed_losses(spg_tiny):
    torch.manual_seed(0)
    maps = torch.randn(2, 3, 4, 4)
    maps[1] = 1.0  # image 1: constant attention → B2's seeds ignore it
    branch = [torch.randn(2, 1, 4, 4, requires_grad=True) for _ in range(3)]
    labels = torch.tensor([2, 0])
    output = _output(maps, *branch, labels, (16, 16))
    losses = spg_tiny.loss(output, labels)
    # The masks by hand, with the benchmark's default thresholds.
    b2_mask = seed_mask(output.aux["attention"], 0.7, 0.01)
    b2_mask[1] = IG
    b2_prob = torch.sigmoid(F.interpolate(branch[1], size=(16, 16), mode="bilinear"))[:, 0]
    b1_mask = seed_mask(b2_prob, 0.5, 0.05)
    c_mask = seed_mask(output.aux["fused_attention"], 0.7, 0.1)
    expected = {
        "loss_cls": F.cross_entropy(output.logits, labels),
        "loss_b2": seed_loss(branch[1], b2_mask)[0],
        "loss_b1": seed_loss(branch[0], b1_mask)[0],
        "loss_c": seed_loss(branch[2], c_mask)[0],
    }
    assert losses.keys() == {"loss", *expected}
    for name, value in expected.items():
        torch.testing.assert_close(losses[name], value)
    torch.testing.assert_close(losses["loss"], sum(expected.values()))
    scalars = spg_tiny.extra_scalars(output)
    assert float(scalars["constant_attention"]) == 0.5
    assert float(scalars["seeds_b2_fg"]) == float(seed_fractions(b2_mask)[0])
