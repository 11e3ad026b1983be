"""Weights loading: local torchvision-format files, key re-indexing, strictness, offline errors."""

from __future__ import annotations

from urllib.error import URLError

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models.vgg import cfgs, make_layers

import wsol.models.weights as weights
from tests.models.presets import build_preset


def _convs(module: nn.Module) -> list[nn.Conv2d]:
    return [m for m in module.modules() if isinstance(m, nn.Conv2d)]


@pytest.fixture(scope="module")
def vgg16_file(tmp_path_factory):
    """A torchvision-format VGG16 state dict with random weights.

    The features come from torchvision's own VGG16 layer list (so the ``features.N`` indices are
    torchvision's); the 100M-parameter classifier is replaced by small tensors under the same
    keys, which the loader must drop anyway.
    """
    torch.manual_seed(0)
    features = make_layers(cfgs["D"])
    state = {f"features.{key}": value for key, value in features.state_dict().items()}
    for index in (0, 3, 6):
        state[f"classifier.{index}.weight"] = torch.zeros(2, 2)
        state[f"classifier.{index}.bias"] = torch.zeros(2)
    path = tmp_path_factory.mktemp("weights") / "vgg16-random.pth"
    torch.save(state, path)
    return path, _convs(features)


@pytest.mark.parametrize(
    ("name", "large"), [("vgg16", False), ("vgg16", True), ("vgg16_pool3x3", False)]
)
def test_vgg16_loads_a_local_torchvision_file(vgg16_file, name, large):
    path, source_convs = vgg16_file
    backbone = build_preset(name, weights_path=path, large_feature_map=large)
    loaded = _convs(backbone.features)
    assert len(loaded) == len(source_convs) == 13
    for mine, theirs in zip(loaded, source_convs, strict=True):
        assert torch.equal(mine.weight, theirs.weight) and torch.equal(mine.bias, theirs.bias)


def test_resnet50_loads_a_local_torchvision_file(tmp_path):
    torch.manual_seed(0)
    source = torchvision.models.resnet50(weights=None)
    for bn in (m for m in source.modules() if isinstance(m, nn.BatchNorm2d)):
        bn.running_mean.normal_()  # make the buffers distinguishable from a fresh init
    path = tmp_path / "resnet50-random.pth"
    torch.save(source.state_dict(), path)
    backbone = build_preset("resnet50", weights_path=path)
    mine = backbone.state_dict()
    theirs = {k: v for k, v in source.state_dict().items() if not k.startswith("fc.")}
    assert mine.keys() == theirs.keys()
    assert all(torch.equal(mine[key], theirs[key]) for key in theirs)


def test_missing_and_unexpected_keys_are_listed(tmp_path):
    state = build_preset("tiny").state_dict()
    state.pop("stages.0.0.weight")
    state["stages.9.weight"] = torch.zeros(1)
    path = tmp_path / "tiny.pth"
    torch.save(state, path)
    with pytest.raises(ValueError, match="stages.0.0.weight") as error:
        build_preset("tiny", weights_path=path)
    assert "stages.9.weight" in str(error.value) and str(path) in str(error.value)


def test_wrapped_checkpoint_and_missing_file(tmp_path):
    source = build_preset("tiny")
    path = tmp_path / "ckpt.pth"
    torch.save({"state_dict": source.state_dict(), "epoch": 3}, path)
    loaded = build_preset("tiny", weights_path=path)
    assert torch.equal(loaded.stages[0][0].weight, source.stages[0][0].weight)
    with pytest.raises(FileNotFoundError, match="nowhere.pth"):
        build_preset("tiny", weights_path=tmp_path / "nowhere.pth")


def test_offline_pretrained_error_says_how_to_supply_the_file(monkeypatch):
    def offline(name):
        raise URLError("no network")

    monkeypatch.setattr(weights, "_download_state_dict", offline)
    with pytest.raises(RuntimeError) as error:
        build_preset("resnet18", pretrained=True)
    message = str(error.value)
    assert "weights_path=" in message and "resnet18-f37072fd.pth" in message
    assert str(torch.hub.get_dir()) in message and "no network" in message


def test_pretrained_uses_torchvision_weights_by_name(monkeypatch):
    source = build_preset("resnet18")
    requested = []

    def cached(name):
        requested.append(name)
        return {**source.state_dict(), "fc.weight": torch.zeros(1), "fc.bias": torch.zeros(1)}

    monkeypatch.setattr(weights, "_download_state_dict", cached)
    loaded = build_preset("resnet18", pretrained=True)
    assert requested == ["ResNet18_Weights.IMAGENET1K_V1"]
    assert torch.equal(loaded.conv1.weight, source.conv1.weight)


def test_tiny_has_no_pretrained_weights():
    with pytest.raises(ValueError, match="weights_path"):
        build_preset("tiny", pretrained=True)
