"""method=posthoc: extractors of a classifier scored by wsol-eval like the CAMs of a method."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

import wsol.cams as cams
from tests.cams.nets import images, spatial_net
from tests.conftest import CONFIG_DIR
from wsol.methods.posthoc import PosthocMethod, load_classifier

CONFIGS = sorted(p.stem for p in (CONFIG_DIR / "method").glob("posthoc*.yaml"))
TORCHVISION = [
    "method.classifier.checkpoint=null",
    "method.classifier.torchvision_name=resnet18",
    "method.classifier.num_classes=4",
    "method.target_layer=layer4",
    "extras.print_config=false",
]


def test_one_config_per_extractor():
    expected = {"posthoc", "posthoc_cam", "posthoc_gradcampp", "posthoc_xgradcam",
                "posthoc_layercam", "posthoc_scorecam", "posthoc_saliency", "posthoc_smoothgrad",
                "posthoc_guided_backprop", "posthoc_deconvnet", "posthoc_guided_gradcam",
                "posthoc_occlusion"}  # fmt: skip
    assert set(CONFIGS) == expected


@pytest.mark.parametrize("name", CONFIGS)
def test_every_posthoc_config_builds_its_extractor_on_a_torchvision_classifier(name, make_config):
    extra = {"posthoc_cam": ["method.extractor.fc_layer=fc"],
             "posthoc_smoothgrad": ["method.extractor.samples=2"]}.get(name, [])  # fmt: skip
    cfg = make_config("eval", [f"method={name}", *TORCHVISION, *extra])
    method = instantiate(cfg.method)
    assert isinstance(method, PosthocMethod) and method.num_classes == 4
    assert type(method.extractor).__module__.startswith("wsol.cams.")
    if hasattr(method.extractor, "target_layer"):
        assert method.extractor.target_layer == "layer4"
    x = torch.randn(2, 3, 32, 32)
    output = method(x, torch.tensor([1, 3]))
    maps = method.cams(output, torch.tensor([1, 3]))
    assert output.logits.shape == (2, 4) and maps.ndim == 3 and torch.isfinite(maps).all()


def test_forward_gives_the_extractors_raw_maps_of_the_labels_or_predictions():
    model = spatial_net()
    method = PosthocMethod(model, functools.partial(cams.GradCAM), "features", num_classes=5)
    x = images(size=16)
    labels = torch.tensor([0, 3, 4])
    output = method(x, labels)
    torch.testing.assert_close(output.logits, model(x))
    expected = cams.GradCAM(model, "features").explain(x, labels)
    torch.testing.assert_close(method.cams(output, labels), expected)
    with pytest.raises(ValueError, match="only for the classes given"):
        method.cams(output, torch.tensor([1, 3, 4]))
    predicted = method(x)
    torch.testing.assert_close(predicted.aux["class_ids"], model(x).argmax(1))
    with pytest.raises(RuntimeError, match="use wsol-eval"):
        method.train().loss(output, labels)
    assert method.param_groups(0.1, 10.0) == []


def test_layer_extractor_without_target_layer_is_an_error():
    with pytest.raises(ValueError, match="needs method.target_layer"):
        PosthocMethod(spatial_net(), functools.partial(cams.GradCAM), num_classes=5)
    plain = PosthocMethod(spatial_net(), functools.partial(cams.Saliency), "ignored", 5)
    assert isinstance(plain.extractor, cams.Saliency)


def test_torchvision_classifier_from_a_state_dict_file(tmp_path):
    import torchvision

    torch.manual_seed(0)
    source = torchvision.models.resnet18(num_classes=3)
    torch.save(source.state_dict(), tmp_path / "weights.pt")
    loaded = load_classifier(torchvision_name="resnet18", weights_path=str(tmp_path / "weights.pt"),
                             num_classes=3)  # fmt: skip
    assert loaded.num_classes == 3 and not loaded.training
    x = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(loaded(x), source.eval()(x))
    torch.save({"fc.weight": torch.zeros(1)}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="bad.pt: not a state dict of resnet18"):
        load_classifier(torchvision_name="resnet18", weights_path=str(tmp_path / "bad.pt"))
    with pytest.raises(ValueError, match="exactly one of"):
        load_classifier(checkpoint="x.ckpt", torchvision_name="resnet18")
    with pytest.raises(ValueError, match="exactly one of"):
        load_classifier()


@pytest.mark.slow
def test_wsol_eval_scores_posthoc_maps_of_a_checkpoint(tmp_path_factory, tmp_path):
    """CAM as a post-hoc extractor of a CAM checkpoint reproduces the checkpoint's own test
    numbers exactly (same maps, same pipeline); Grad-CAM runs with gradients and gets PxAP."""
    from omegaconf import open_dict

    from tests.conftest import compose_config
    from tests.helpers.trained_run import trained_run
    from wsol.tasks.evaluate import evaluate

    checkpoint = trained_run(tmp_path_factory) / "checkpoints" / "last.ckpt"

    def run(name: str, overrides: list[str]) -> dict:
        cfg = compose_config(
            "eval", [f"ckpt_path={checkpoint}", "extras.print_config=false", *overrides],
            tmp_path / name,
        )  # fmt: skip
        with open_dict(cfg):
            cfg.paths.data_dir = str(Path(checkpoint).parents[1])  # unused: data from the ckpt
        return evaluate(cfg)

    own = run("own", [])
    as_posthoc = run("cam", ["method=posthoc_cam"])
    for key in ("test/maxboxaccv2", "test/pxap"):
        assert as_posthoc[key] == pytest.approx(own[key], abs=1e-9), key
    gradcam = run("gradcam", ["method=posthoc"])
    assert 0 <= gradcam["test/maxboxaccv2"] <= 100 and 0 <= gradcam["test/pxap"] <= 100
