"""Method seams: declared extra maps (per class or per image) through one accessor, and the
shapes of a forward pass's output checked as part of the contract."""

from __future__ import annotations

import functools
from functools import partial
from types import SimpleNamespace

import pytest
import torch

import wsol.cams as cams
from tests.cams.nets import images, spatial_net
from wsol.callbacks.cam_heatmaps import CAMHeatmapLogger
from wsol.cams.pipeline import scoremaps
from wsol.lit_module import WSOLLitModule
from wsol.methods import CAMMethod
from wsol.methods.outputs import ExtraMap, MethodOutput
from wsol.methods.posthoc import PosthocMethod
from wsol.models import build_backbone


class WithExtras(CAMMethod):
    """CAM plus a per-class and a per-image map in ``aux``."""

    extra_maps = {
        "doubled": ExtraMap("per class"),
        "saliency": ExtraMap("one per image", per_class=False),
    }

    def forward(self, images, labels=None) -> MethodOutput:
        output = super().forward(images, labels)
        output.aux["doubled"] = 2 * output.class_maps
        output.aux["saliency"] = output.class_maps.sum(dim=1, keepdim=True)
        return output


def _method(cls=WithExtras) -> CAMMethod:
    return cls(build_backbone("tiny", widths=(4, 6, 8)), 3).eval()


def test_one_accessor_serves_per_class_and_per_image_maps():
    method = _method()
    labels = torch.tensor([2, 0])
    output = method(torch.randn(2, 3, 32, 32), labels)
    method.check_output(output, 2)
    assert torch.equal(method.extra_map(output, "doubled", labels), 2 * method.cams(output, labels))
    summed = output.class_maps.sum(dim=1)
    assert torch.equal(method.extra_map(output, "saliency", labels), summed)
    output.aux["saliency"] = summed  # [B, h, w] is one per image too
    assert torch.equal(method.extra_map(output, "saliency", None), summed)
    assert set(method.declared_maps()) == {"doubled", "saliency"}
    with pytest.raises(KeyError, match="declares no extra map 'nope'"):
        method.extra_map(output, "nope", labels)


def test_a_map_of_the_wrong_kind_is_refused_naming_method_and_key():
    method = _method()
    output = method(torch.randn(2, 3, 32, 32))
    output.aux["saliency"] = output.class_maps  # [B, K, h, w] declared per image
    with pytest.raises(ValueError, match=r"WithExtras.extra_maps\['saliency'\] is declared per"):
        method.check_output(output, 2)
    output = method(torch.randn(2, 3, 32, 32))
    output.aux["doubled"] = output.aux["saliency"]
    with pytest.raises(ValueError, match=r"\['doubled'\] is declared per class"):
        method.extra_map(output, "doubled", torch.tensor([0, 1]))
    del output.aux["doubled"]
    with pytest.raises(ValueError, match="declares 'doubled', missing from output.aux"):
        method.check_output(output, 2)


def test_class_maps_shape_is_part_of_the_contract():
    method = _method(CAMMethod)
    output = method(torch.randn(2, 3, 32, 32))
    method.check_output(output, 2)
    with pytest.raises(ValueError, match=r"CAMMethod.forward: class_maps must be \[B, K, h, w\]"):
        method.check_output(MethodOutput(output.logits, output.class_maps[:, :1]), 2)
    with pytest.raises(ValueError, match=r"logits must be \[B, K\] = \[2, 3\]"):
        method.check_output(MethodOutput(output.logits[:, :2], output.class_maps), 2)


def test_posthoc_maps_are_declared_one_per_image():
    method = PosthocMethod(spatial_net(), functools.partial(cams.GradCAM), "features", 5)
    assert method.class_maps_per_image
    x, labels = images(size=16), torch.tensor([0, 3, 4])
    output = method(x, labels)
    method.check_output(output, 3)  # [B, 1, h, w]
    assert method.cams(output, labels).shape == output.class_maps[:, 0].shape


def test_predict_step_returns_each_declared_map_through_the_pipeline():
    module = WSOLLitModule(_method(), optimizer=partial(torch.optim.SGD, lr=0.1)).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        out = module.predict_step({"images": x}, 0)
        output = module.method(x.contiguous(memory_format=torch.channels_last))
    top1 = out["probabilities"].argmax(dim=1)
    assert set(out["extra_scoremaps"]) == {"per class", "one per image"}
    assert set(out["extra_invalid"]) == set(out["extra_scoremaps"])
    for caption, flags in out["extra_invalid"].items():
        expected = scoremaps(out["extra_scoremaps"][caption], (32, 32))[1]
        assert flags.dtype == torch.bool and torch.equal(flags, expected)
    expected, _ = scoremaps(output.aux["saliency"][:, 0], (32, 32))
    torch.testing.assert_close(out["extra_scoremaps"]["one per image"], expected)
    expected, _ = scoremaps(2 * output.class_maps, (32, 32), top1)
    torch.testing.assert_close(out["extra_scoremaps"]["per class"], expected)


def test_heatmap_panel_draws_per_image_maps_through_the_accessor():
    method = _method()
    module = SimpleNamespace(method=method)
    batch = {
        "images": torch.randn(3, 3, 32, 32),
        "labels": torch.tensor([1, 0, 2]),
        "gt_boxes": [torch.tensor([[0, 0, 5, 5]])] * 3,
        "indices": torch.tensor([10, 11, 12]),
    }
    output = method(batch["images"], batch["labels"])
    maps, invalid = scoremaps(output.class_maps, (32, 32), batch["labels"])
    trainer = SimpleNamespace(datamodule=SimpleNamespace(mean=(0.5,) * 3, std=(0.25,) * 3))
    logger = CAMHeatmapLogger()
    outputs = {"output": output, "scoremaps": maps, "invalid": invalid}
    logger._capture(trainer, module, outputs, batch, [0, 2])
    sample = logger._samples[12]
    assert list(sample.extra_maps) == ["per class", "one per image", "scored"]
    expected, _ = scoremaps(output.aux["saliency"][2:, 0], (32, 32))
    torch.testing.assert_close(sample.extra_maps["one per image"], expected[0])
    with pytest.raises(ValueError, match=r"aux_maps: \['nope'\] are not maps that WithExtras"):
        CAMHeatmapLogger(aux_maps={"nope": "x"})._capture(trainer, module, outputs, batch, [0])
