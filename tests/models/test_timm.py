"""backbone=timm: timm CNNs through features_only as contract backbones (random weights only)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import open_dict

from tests.conftest import compose_config
from tests.helpers.small_run import SMALL_RUN
from wsol.models import build_backbone
from wsol.models.registry import backbone_normalization

timm = pytest.importorskip("timm")

# The tiny variants of the two families the issue names (5M and 3.7M parameters).
MODELS = ["resnet10t", "convnext_atto"]


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("output_stride", [None, 16])
def test_stage_specs_equal_timm_feature_info(name, output_stride):
    options = {} if output_stride is None else {"output_stride": output_stride}
    backbone = build_backbone("timm", model_name=name, **options)
    reference = timm.create_model(name, features_only=True, **options)
    info = reference.feature_info
    stages = backbone.feature_info
    assert [s.channels for s in stages] == info.channels()
    assert [s.stride for s in stages] == info.reduction()
    assert [s.aliases[0] for s in stages] == info.module_name()
    assert backbone.stage_names[-1] == "final" and backbone.out_channels == info.channels()[-1]
    # Same weights, same maps at every stage.
    backbone.body.load_state_dict(reference.state_dict())
    backbone.eval(), reference.eval()
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ours = backbone.forward_stages(images)
        theirs = reference(images)
    assert list(ours) == list(backbone.stage_names)
    for mine, expected in zip(ours.values(), theirs, strict=True):
        torch.testing.assert_close(mine, expected)


def test_inserted_layer_runs_at_a_stage_boundary():
    backbone = build_backbone("timm", model_name="resnet10t").eval()
    images = torch.randn(1, 3, 64, 64)
    zeroed = backbone.forward_stages(images, after={"last-1": torch.zeros_like})
    assert zeroed["stage4"].abs().sum() == 0
    assert not torch.equal(zeroed["final"], backbone(images))


def test_in_stage_positions_are_refused_naming_the_points():
    from wsol.methods.adl import ADLMethod

    backbone = build_backbone("timm", model_name="resnet10t")
    with pytest.raises(ValueError, match=r"method.positions=\['layer3.0'\].*no point 'layer3.0'"):
        ADLMethod(backbone, num_classes=3, positions=["layer3.0"])


def test_normalization_is_the_models_pretrained_cfg(tmp_path):
    cfg = timm.models.get_pretrained_cfg("inception_v3.tf_in1k")
    assert backbone_normalization("mean", "timm", "inception_v3.tf_in1k") == list(cfg.mean)
    assert list(cfg.mean) != [0.485, 0.456, 0.406]  # a model that is not ImageNet-normalized
    with pytest.raises(ValueError, match="depends on its options"):
        backbone_normalization("mean", "timm")
    composed = compose_config(
        "train", ["backbone=timm", "backbone.model_name=inception_v3.tf_in1k"], tmp_path
    )
    assert list(composed.data.mean) == list(cfg.mean)
    assert list(composed.data.std) == list(cfg.std)


def test_weights_from_a_local_file(tmp_path):
    source = timm.create_model("resnet10t")
    path = tmp_path / "resnet10t.pth"
    torch.save(source.state_dict(), path)
    backbone = build_backbone("timm", model_name="resnet10t", weights_path=str(path))
    torch.testing.assert_close(backbone.body.layer4[0].conv1.weight, source.layer4[0].conv1.weight)
    with pytest.raises(FileNotFoundError, match="backbone.weights_path"):
        build_backbone("timm", model_name="resnet10t", weights_path=str(tmp_path / "none.pth"))


def test_pretrained_reads_the_cache_and_never_downloads(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(RuntimeError, match="allow_download=true"):
        build_backbone("timm", model_name="resnet10t", pretrained=True)
    source = timm.create_model("resnet10t")
    url = timm.models.get_pretrained_cfg("resnet10t").url
    cached = tmp_path / "torch" / "hub" / "checkpoints" / url.rsplit("/", 1)[-1]
    cached.parent.mkdir(parents=True)
    torch.save(source.state_dict(), cached)
    backbone = build_backbone("timm", model_name="resnet10t", pretrained=True)
    torch.testing.assert_close(backbone.body.conv1[0].weight, source.conv1[0].weight)


def test_a_model_without_sequential_features_is_refused():
    with pytest.raises(ValueError, match="FeatureGetterNet.*cannot name its stages"):
        build_backbone("timm", model_name="deit_tiny_patch16_224")


@pytest.mark.parametrize("method", ["has", "cutmix", "adl", "acol", "spg"])
def test_methods_train_a_step_on_a_timm_backbone(tmp_path, method):
    overrides = ["backbone=timm", "backbone.model_name=resnet10t", "backbone.pretrained=false"]
    overrides += [f"method={method}", "head_width=32", "spg.branch_width=32", "spg.c_width=16"]
    cfg = compose_config("train", overrides, tmp_path)
    model = instantiate(cfg.method)
    images, labels = torch.randn(4, 3, 64, 64), torch.tensor([0, 1, 2, 3])
    model.train()
    output = model(images, labels)
    model.loss(output, labels)["loss"].backward()
    assert output.class_maps.shape == (4, cfg.data.num_classes, 4, 4)
    grads = [p.grad for p in model.backbone.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_cam_fast_dev_run(tmp_path, name):
    overrides = [*SMALL_RUN, "debug=fdr", "backbone=timm", f"backbone.model_name={name}"]
    cfg = compose_config("train", [*overrides, "backbone.pretrained=false"], tmp_path)
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / "run")
    from wsol.tasks.train import train

    train(cfg)
    metrics = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert 0 <= metrics["test/maxboxaccv2"] <= 100


def test_without_timm_the_error_names_the_extra(monkeypatch):
    from wsol.models import registry

    monkeypatch.setattr(registry, "_REGISTRY", {})
    monkeypatch.setattr(registry, "OPTIONAL_MODULES", {})
    with pytest.raises(ValueError, match=r"needs the timm extra: pip install 'wsol\[timm\]'"):
        build_backbone("timm", model_name="resnet10t")
