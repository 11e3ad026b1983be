"""ADL where the benchmark puts it: for VGG16, ResNet50 and InceptionV3 (14x14 and 28x28), the
configs' ``adl_positions`` give ADL layers at the benchmark's places, in its order, seeing its
shapes (tests/models/benchmark_layers.py, read from clovaai/wsolevaluation)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from tests.models.benchmark_layers import BENCHMARK_ADL
from wsol.methods.adl import ADLMethod
from wsol.models import build_backbone

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "backbone"


def _placements(name: str, large: bool) -> list[tuple[str, int, int]]:
    cfg = OmegaConf.load(CONFIGS / f"{name}.yaml")
    with torch.device("meta"):
        backbone = build_backbone(name, large_feature_map=large)
        method = ADLMethod(
            backbone,
            num_classes=5,
            positions=list(cfg.adl_positions),
            head=instantiate(cfg.cam_head),
        ).eval()
        seen: list[tuple[str, int, int]] = []
        for position, layer in zip(method.positions, method.adl, strict=True):
            layer.register_forward_pre_hook(
                lambda m, args, p=position: seen.append((p, args[0].shape[1], args[0].shape[2]))
            )
        output = method(torch.empty(2, 3, 224, 224))
    side = 224 // backbone.stride
    assert tuple(output.class_maps.shape) == (2, 5, side, side)
    return seen


@pytest.mark.parametrize("large", [False, True])
@pytest.mark.parametrize("name", sorted(BENCHMARK_ADL))
def test_adl_layers_sit_where_the_benchmark_puts_them(name, large):
    assert _placements(name, large) == BENCHMARK_ADL[name](224, large)


def test_training_applies_adl_inside_a_stage_and_in_the_head():
    """On InceptionV3 (small input), the layer at mixed_5d changes what Mixed_6a sees and the
    one at head.conv2 what the class-map conv sees; evaluation leaves both alone."""
    from wsol.models.heads import ClassMapHead

    torch.manual_seed(0)
    backbone = build_backbone("inception_v3")
    method = ADLMethod(
        backbone,
        num_classes=3,
        positions=["mixed_5d", "head.conv2"],
        drop_prob=1.0,
        head=lambda c, k: ClassMapHead(c, k, width=16),
    )
    seen = {}
    backbone.Mixed_6a.register_forward_pre_hook(lambda m, a: seen.update(m6a=a[0]))
    backbone.Mixed_5d.register_forward_hook(lambda m, a, o: seen.update(m5d=o))
    method.head.layers[-1].register_forward_pre_hook(lambda m, a: seen.update(last=a[0]))
    method.head.layers[-2].register_forward_hook(lambda m, a, o: seen.update(relu2=o))
    method.train()
    with torch.no_grad():
        method(torch.randn(2, 3, 96, 96), torch.tensor([0, 1]))
    from wsol.methods.adl import adl_maps

    drop, _ = adl_maps(seen["m5d"], 0.9)
    pooled = backbone.pool_5(seen["m5d"] * drop)
    torch.testing.assert_close(seen["m6a"], pooled)
    drop, _ = adl_maps(seen["relu2"], 0.9)
    torch.testing.assert_close(seen["last"], seen["relu2"] * drop)
