"""Heads: logits and class maps from one pass, and their equivalence to the textbook forms."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from wsol.models import ClassMapHead, GAPHead


def test_gap_head_logits_equal_linear_of_gap_and_mean_of_maps():
    torch.manual_seed(0)
    head = GAPHead(in_channels=16, num_classes=5)
    torch.nn.init.normal_(head.fc.bias)
    features = torch.rand(3, 16, 7, 7)
    maps, logits = head(features, return_maps=True)
    assert maps.shape == (3, 5, 7, 7) and logits.shape == (3, 5)
    reference = F.linear(features.mean(dim=(2, 3)), head.fc.weight, head.fc.bias)
    torch.testing.assert_close(logits, reference, atol=1e-5, rtol=0)
    torch.testing.assert_close(logits, maps.mean(dim=(2, 3)) + head.fc.bias, atol=1e-6, rtol=0)
    torch.testing.assert_close(head(features), logits)
    # CAM of class y: Σ_k w[y, k] F_k, no bias, no ReLU.
    y = 2
    cam = (head.fc.weight[y].view(16, 1, 1) * features[1]).sum(0)
    torch.testing.assert_close(head.class_maps(features)[1, y], cam, atol=1e-5, rtol=0)


def test_class_map_head_layout_init_and_logits():
    torch.manual_seed(0)
    head = ClassMapHead(in_channels=8, num_classes=4, width=6)
    convs = [m for m in head.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [
        (8, 6, (3, 3)),
        (6, 6, (3, 3)),
        (6, 4, (1, 1)),
    ]
    assert all(torch.count_nonzero(c.bias) == 0 for c in convs)
    bound = (6 / (8 * 9 + 6 * 9)) ** 0.5  # Xavier-uniform bound of the first conv
    assert convs[0].weight.abs().max() <= bound
    features = torch.randn(2, 8, 5, 5)
    maps, logits = head(features, return_maps=True)
    assert maps.shape == (2, 4, 5, 5) and (maps < 0).any()  # no ReLU on the class maps
    torch.testing.assert_close(logits, maps.mean(dim=(2, 3)))
    torch.testing.assert_close(head.class_maps(features), maps)


def test_class_map_head_dropout_only_in_training():
    head = ClassMapHead(in_channels=4, num_classes=3, width=5, dropout=0.5)
    assert sum(isinstance(m, torch.nn.Dropout) for m in head.modules()) == 3
    features = torch.randn(1, 4, 3, 3)
    head.eval()
    torch.testing.assert_close(head(features), head(features))
