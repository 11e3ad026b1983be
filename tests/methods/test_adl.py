"""ADL: the exact drop mask and importance map, one draw per batch, identity in evaluation."""

from __future__ import annotations

import pytest
import torch

from wsol.methods.adl import ADLayer, ADLMethod, adl_maps
from wsol.models import build_backbone


def _features() -> torch.Tensor:
    # Two images, two channels, 2x2: channel means [[1, 2], [3, 4]] and [[0, -1], [-2, -4]].
    first = torch.tensor([[[0.0, 2.0], [2.0, 4.0]], [[2.0, 2.0], [4.0, 4.0]]])
    second = torch.tensor([[[0.0, -2.0], [-4.0, -8.0]], [[0.0, 0.0], [0.0, 0.0]]])
    return torch.stack([first, second])


def test_drop_mask_and_importance_map_are_exact():
    drop, importance = adl_maps(_features(), gamma=0.7)
    # Image 0: max 4, drop where mean < 2.8 → the 1 and 2 cells survive, 3 and 4 are dropped.
    assert torch.equal(drop[0, 0], torch.tensor([[1.0, 1.0], [0.0, 0.0]]))
    # Image 1: max 0 (its own maximum), drop where mean < 0 → only the 0 cell is dropped.
    assert torch.equal(drop[1, 0], torch.tensor([[0.0, 1.0], [1.0, 1.0]]))
    means = torch.tensor([[[1.0, 2.0], [3.0, 4.0]], [[0.0, -1.0], [-2.0, -4.0]]])
    torch.testing.assert_close(importance[:, 0], torch.sigmoid(means))


@pytest.mark.parametrize("drop_prob", [0.0, 1.0])
def test_training_multiplies_by_the_drawn_map(drop_prob):
    layer = ADLayer(drop_prob=drop_prob, gamma=0.7).train()
    features = _features()
    drop, importance = adl_maps(features, 0.7)
    expected = features * (drop if drop_prob == 1.0 else importance)
    torch.testing.assert_close(layer(features), expected)
    assert layer.dropped is (drop_prob == 1.0)


def test_one_draw_per_batch_at_the_given_rate():
    layer = ADLayer(drop_prob=0.75, gamma=0.7).train()
    features = _features().repeat(4, 1, 1, 1)  # 8 images: four copies of each
    drop, importance = adl_maps(features, 0.7)
    torch.manual_seed(0)
    draws = []
    for _ in range(400):
        out = layer(features)
        as_drop = torch.isclose(out, features * drop).flatten(1).all(1)
        as_importance = torch.isclose(out, features * importance).flatten(1).all(1)
        # The whole batch took the same branch: every image matches one map, all the same.
        assert bool(as_drop.all()) != bool(as_importance.all())
        assert bool(as_drop.all()) is layer.dropped
        draws.append(layer.dropped)
    assert 0.68 < sum(draws) / len(draws) < 0.82


def test_identity_in_evaluation():
    layer = ADLayer(drop_prob=1.0, gamma=0.9).eval()
    features = _features()
    assert layer(features) is features


def _method(**kwargs) -> ADLMethod:
    torch.manual_seed(0)
    return ADLMethod(build_backbone("tiny", widths=(4, 6, 8)), num_classes=3, **kwargs)


def test_layers_sit_after_the_named_stages():
    method = _method(positions=["stage2"], drop_prob=1.0, gamma=0.9)
    backbone, seen = method.backbone, {}
    backbone.stage_module("stage3").register_forward_pre_hook(
        lambda m, args: seen.update(stage3_in=args[0].detach().clone())
    )
    images = torch.randn(2, 3, 32, 32)
    method.train()
    with torch.no_grad():
        stage2 = backbone.forward_stages(images)["stage2"]  # no ADL: the raw stage output
    output = method(images, torch.tensor([0, 1]))
    drop, _ = adl_maps(stage2, 0.9)
    torch.testing.assert_close(seen["stage3_in"], stage2 * drop)
    assert output.aux["adl_dropped"].tolist() == [True]
    assert float(method.extra_scalars(output)["adl_drop_share"]) == 1.0
    method.eval()
    with torch.no_grad():
        evaluated = method(images)
        plain = method.head(backbone(images), return_maps=True)[0]
    torch.testing.assert_close(evaluated.class_maps, plain)
    assert method.extra_scalars(evaluated) == {}


def test_no_parameters_and_trains_end_to_end():
    method = _method()
    assert sum(p.numel() for p in method.adl.parameters()) == 0
    labels = torch.tensor([0, 2])
    output = method(torch.randn(2, 3, 32, 32), labels)
    method.loss(output, labels)["loss"].backward()
    assert all(p.grad is not None for p in method.parameters())


def test_bad_arguments_are_named():
    message = "positions=\\['layer4'\\].*no point 'layer4'.*stage1; stage2"
    with pytest.raises(ValueError, match=message):
        _method(positions=["layer4"])
    with pytest.raises(ValueError, match="GAPHead has no position \\['conv2'\\]"):
        _method(positions=["head.conv2"])
    with pytest.raises(ValueError, match="named twice"):
        _method(positions=["final", "final"])
    with pytest.raises(ValueError, match="drop_prob"):
        ADLayer(drop_prob=2.0)
    with pytest.raises(ValueError, match="gamma"):
        ADLayer(gamma=-0.1)


def test_the_old_stages_argument_still_builds_the_same_layers():
    old = _method(stages=["stage2"])
    assert old.positions == ("stage2",)
    with pytest.raises(ValueError, match="old name of method.positions"):
        _method(stages=["stage2"], positions=["final"])
