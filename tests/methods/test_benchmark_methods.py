"""HaS, ADL and CutMix as the benchmark runs them: its config.py defaults, its layer-name rule,
and per backbone its ADL positions and CAM head, composed through Hydra (meta device)."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

from tests.models.benchmark_layers import BENCHMARK_ADL
from wsol.methods.adl import ADLMethod
from wsol.models.heads import ClassMapHead, GAPHead

# clovaai/wsolevaluation config.py defaults.
DEFAULTS = {
    "has": {"grid": 4, "hide_prob": 0.5},
    "adl": {"drop_prob": 0.75, "gamma": 0.9},
    "cutmix": {"alpha": 1.0, "mix_prob": 1.0},
}


@pytest.mark.parametrize("method", sorted(DEFAULTS))
def test_method_defaults_are_the_benchmark_ones(make_config, method):
    cfg = make_config("train", [f"method={method}"])
    for key, value in DEFAULTS[method].items():
        assert cfg.method[key] == value, key
    assert cfg.method.lr_rule == "we"


@pytest.mark.parametrize("backbone", ["vgg16", "resnet50", "inception_v3"])
@pytest.mark.parametrize("method", ["cam", "has", "adl", "cutmix"])
def test_every_method_gets_the_benchmark_head_and_positions(make_config, method, backbone):
    cfg = make_config(
        "train", [f"method={method}", f"backbone={backbone}", "backbone.pretrained=false"]
    )
    with torch.device("meta"):
        built = instantiate(cfg.method)
    head = ClassMapHead if backbone == "inception_v3" else GAPHead
    assert type(built.head) is head
    if backbone == "inception_v3":
        assert built.head.layers[0].p == 0.5 and built.head.layers[1].out_channels == 1024
    if method == "adl":
        assert isinstance(built, ADLMethod)
        assert list(built.positions) == [p for p, _, _ in BENCHMARK_ADL[backbone](224, False)]
    groups = built.param_groups(lr=0.01, head_lr_mult=10.0)
    new = {id(p) for g in groups if g["name"] == "new" for p in g["params"]}
    assert all(id(p) in new for p in built.head.parameters())
