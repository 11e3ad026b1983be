"""The extractors' calling convention and the target-layer contract (issue 14, point 4)."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

import wsol.cams as cams
from tests.cams.nets import GAPNet, images, pearson, spatial_net
from wsol.cams.pipeline import scoremaps

CLASS_IDS = [0, 3, 4]
LAYER = "features.3"  # a conv followed by an in-place ReLU in the in-place net

EXTRACTORS = {
    "CAM": lambda m: cams.CAM(m, target_layer="features", fc_layer="head.4"),
    "GradCAM": lambda m: cams.GradCAM(m, target_layer=LAYER),
    "GradCAMPlusPlus": lambda m: cams.GradCAMPlusPlus(m, target_layer=LAYER),
    "XGradCAM": lambda m: cams.XGradCAM(m, target_layer=LAYER),
    "LayerCAM": lambda m: cams.LayerCAM(m, target_layer=LAYER),
    "ScoreCAM": lambda m: cams.ScoreCAM(m, target_layer=LAYER, batch_size=8),
    "Saliency": lambda m: cams.Saliency(m),
    "SmoothGrad": lambda m: cams.SmoothGrad(m, samples=3, batch_size=4),
    "GuidedBackprop": lambda m: cams.GuidedBackprop(m),
    "Deconvnet": lambda m: cams.Deconvnet(m),
    "GuidedGradCAM": lambda m: cams.GuidedGradCAM(m, target_layer=LAYER),
    "Occlusion": lambda m: cams.Occlusion(m, window=4, stride=4),
}


def _hooks(model: nn.Module) -> int:
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
        + len(m._backward_pre_hooks)
        for m in model.modules()
    )  # fmt: skip


def _state(model: nn.Module) -> dict:
    return {
        "training": [m.training for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "grad": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        "inplace": [getattr(m, "inplace", None) for m in model.modules()],
        "hooks": _hooks(model),
    }


def test_package_exports_every_extractor():
    names = {"CAM", "GradCAM", "GradCAMPlusPlus", "XGradCAM", "LayerCAM", "ScoreCAM", "Saliency",
             "SmoothGrad", "GuidedBackprop", "Deconvnet", "GuidedGradCAM", "Occlusion"}  # fmt: skip
    assert names <= set(cams.__all__) and names == set(EXTRACTORS)
    assert all(issubclass(getattr(cams, name), cams.Extractor) for name in names)


@pytest.mark.parametrize("name", sorted(EXTRACTORS))
def test_maps_in_unit_range_at_input_resolution_and_batch_independent(name):
    """Every image's map is its own (SmoothGrad's noise is drawn per call, so per batch)."""
    model = spatial_net(inplace=True)
    x = images(size=16)
    extractor = EXTRACTORS[name](model)
    maps = extractor(x, CLASS_IDS)
    assert maps.shape == (3, 16, 16) and maps.is_floating_point()
    assert maps.min() >= 0 and maps.max() <= 1 and not extractor.invalid.any()
    assert torch.allclose(maps.amax(dim=(1, 2)), torch.ones(3, dtype=maps.dtype))
    if name != "SmoothGrad":
        single = torch.cat([extractor(x[i : i + 1], CLASS_IDS[i : i + 1]) for i in range(3)])
        torch.testing.assert_close(maps, single, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", sorted(EXTRACTORS))
def test_inplace_relu_after_the_target_changes_nothing(name):
    """The named module's own output is explained: an in-place twin gives the same maps."""
    x = images(size=16)
    inplace = EXTRACTORS[name](spatial_net(inplace=True))(x, CLASS_IDS)
    plain = EXTRACTORS[name](spatial_net(inplace=False))(x, CLASS_IDS)
    torch.testing.assert_close(inplace, plain, atol=1e-6, rtol=0)


def test_gradcam_explains_the_pre_relu_output():
    """Hand-computed Grad-CAM of conv ``features.3``, whose output has negative values."""
    model = spatial_net(inplace=True)
    x = images(size=16)
    twin = spatial_net(inplace=False)
    conv = twin.features[:4](x).detach().requires_grad_(True)
    assert (conv < 0).any()
    logits = twin.head(twin.features[4](conv))
    (grads,) = torch.autograd.grad(logits[range(3), CLASS_IDS].sum(), conv)
    expected = (grads.mean(dim=(2, 3))[:, :, None, None] * conv).sum(1).clamp(min=0)
    ours = cams.GradCAM(model, target_layer=LAYER).explain(x, CLASS_IDS)
    torch.testing.assert_close(ours, expected.detach())


def test_module_running_several_times_per_forward_is_an_error():
    model = torchvision.models.resnet18(num_classes=4).eval()
    before = _hooks(model)
    extractor = cams.GradCAM(model, target_layer="layer4.1.relu")  # BasicBlock.relu runs twice
    with pytest.raises(RuntimeError, match=r"'layer4\.1\.relu' \(ReLU\) ran 2 times"):
        extractor(torch.randn(1, 3, 32, 32), [0])
    assert _hooks(model) == before
    assert cams.GradCAM(model, target_layer="layer4")(torch.randn(1, 3, 32, 32), [0]).shape == (
        1, 32, 32,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("class_ids", "message"),
    [
        ([0, 1], r"one class id per image: expected shape \(3,\), got \(2,\)"),
        (torch.tensor(1), r"expected shape \(3,\), got \(\)"),
        ([[0], [1], [2]], r"got \(3, 1\)"),
        ([0.0, 1.0, 2.0], "must be integers"),
        ([0, 1, 5], r"must lie in \[0, 4\]"),
        ([-1, 1, 2], r"must lie in \[0, 4\]"),
    ],
)
@pytest.mark.parametrize("name", ["GradCAM", "ScoreCAM", "Saliency", "Occlusion"])
def test_one_valid_class_id_per_image(name, class_ids, message):
    extractor = EXTRACTORS[name](spatial_net())
    with pytest.raises(ValueError, match=message):
        extractor(images(size=8), class_ids)


@pytest.mark.parametrize("name", sorted(EXTRACTORS))
@pytest.mark.parametrize("context", ["no_grad", "inference_mode"])
def test_frozen_model_under_no_grad_keeps_its_state(name, context):
    model = spatial_net(inplace=True).train()
    model.head.eval()
    model.features[0].requires_grad_(False)
    model.head[0].weight.grad = torch.full_like(model.head[0].weight, 7.0)
    before = _state(model)
    frozen_model = copy.deepcopy(model).requires_grad_(False)
    x = images(size=16)
    with torch.no_grad() if context == "no_grad" else torch.inference_mode():
        # As in a Lightning test step: the batch itself was made in inference mode.
        maps = EXTRACTORS[name](model)(x.clone(), torch.tensor(CLASS_IDS))
        frozen = EXTRACTORS[name](frozen_model)(x, CLASS_IDS)
    after = _state(model)
    grads = [(name, p.grad) for name, p in model.named_parameters() if p.grad is not None]
    assert [name for name, _ in grads] == ["head.0.weight"] and (grads[0][1] == 7).all()
    before.pop("grad"), after.pop("grad")
    assert after == before
    torch.testing.assert_close(maps, frozen)
    reference = EXTRACTORS[name](spatial_net(inplace=True))(x, CLASS_IDS)
    torch.testing.assert_close(maps, reference)  # evaluated in eval mode, like a fresh model


def test_gradcam_equals_cam_on_a_gap_linear_model():
    """Grad-CAM's identity: w_k = w[c, k] / (h w), so Grad-CAM = ReLU(CAM) / (h w)."""
    torch.manual_seed(0)
    model = GAPNet().eval()
    x = images(size=12)
    cam = cams.CAM(model, target_layer="features").explain(x, CLASS_IDS)
    gradcam = cams.GradCAM(model, target_layer="features").explain(x, CLASS_IDS)
    assert (cam < 0).any() and (cam > 0).any()
    torch.testing.assert_close(gradcam, cam.clamp(min=0) / 144)
    torch.testing.assert_close(
        cams.GradCAM(model, target_layer="features")(x, CLASS_IDS),
        scoremaps(cam.clamp(min=0), (12, 12))[0],
        atol=1e-6,
        rtol=0,
    )


def test_gradcam_equals_the_cams_of_a_wsol_cam_method():
    from wsol.methods import CAMMethod
    from wsol.models.tiny import TinyBackbone

    torch.manual_seed(0)
    method = CAMMethod(TinyBackbone(widths=(4, 6, 8)), num_classes=5).eval()
    x = images(size=32)
    ids = torch.tensor(CLASS_IDS)
    own = method.cams(method(x), ids)
    gradcam = cams.GradCAM(method, target_layer="backbone")
    expected = scoremaps(own.clamp(min=0), (32, 32))[0]
    torch.testing.assert_close(gradcam(x, ids), expected, atol=1e-6, rtol=0)
    cam = cams.CAM(method, target_layer="backbone", fc_layer="head.fc")
    torch.testing.assert_close(cam.explain(x, ids), own.detach(), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", ["GradCAM", "GradCAMPlusPlus", "XGradCAM", "LayerCAM"])
def test_zero_gradients_give_exact_zero_maps_flagged_invalid(name):
    model = spatial_net()
    with torch.no_grad():
        model.head[-1].weight[3] = 0  # class 3 does not depend on the features
    extractor = EXTRACTORS[name](model)
    maps = extractor(images(size=16), CLASS_IDS)
    assert extractor.invalid.tolist() == [False, True, False]
    assert (maps[1] == 0).all() and maps[0].max() == 1


def _score_cam_reference(model, x, class_ids, layer, probability: bool) -> torch.Tensor:
    """Loop over channels, one masked image at a time (the authors' algorithm)."""
    features = dict(model.named_modules())[layer]
    store = {}
    handle = features.register_forward_hook(lambda m, i, o: store.update(a=o.detach().clone()))
    with torch.no_grad():
        model(x)
        handle.remove()
        out = []
        for image, act, c in zip(x, store["a"], class_ids, strict=True):
            scores = []
            for channel in act:
                mask = F.interpolate(channel[None, None], size=x.shape[-2:], mode="bilinear")[0, 0]
                span = mask.max() - mask.min()
                mask = (mask - mask.min()) / span if span > 0 else torch.zeros_like(mask)
                logits = model((image * mask)[None])[0]
                scores.append(logits.softmax(0)[c] if probability else logits[c])
                if probability and span == 0:
                    scores[-1] = torch.zeros(())
            weights = torch.stack(scores) if probability else torch.stack(scores).softmax(0)
            out.append((weights[:, None, None] * act).sum(0).clamp(min=0))
    return torch.stack(out)


@pytest.mark.parametrize("weighting", ["channel_softmax", "class_probability"])
def test_score_cam_weighting_options_follow_their_definitions(weighting):
    model = spatial_net()
    x = images(size=12)
    ours = cams.ScoreCAM(model, "features", batch_size=5, weighting=weighting).explain(x, CLASS_IDS)
    expected = _score_cam_reference(
        model, x, CLASS_IDS, "features", weighting == "class_probability"
    )
    assert (pearson(ours, expected) > 0.99999).all()
    torch.testing.assert_close(ours / ours.amax(), expected / expected.amax(), atol=1e-5, rtol=0)


def test_score_cam_masked_passes_are_chunked_hook_free_and_in_inference_mode():
    model = spatial_net()
    calls = []

    def record(module, args):
        calls.append(
            (len(args[0]), torch.is_inference_mode_enabled(), len(model.features._forward_hooks))
        )

    handle = model.register_forward_pre_hook(record)
    try:
        cams.ScoreCAM(model, "features", batch_size=5)(images(size=12), CLASS_IDS)
    finally:
        handle.remove()
    first, zeros, *masked = calls
    assert first == (3, True, 1) and zeros[0] == 3
    assert len(masked) == -(-3 * 12 // 5) or len(masked) < 3 * 12  # constant channels skipped
    assert all(size <= 5 and inference and hooks == 0 for size, inference, hooks in masked)


def test_score_cam_rejects_unknown_weighting():
    with pytest.raises(ValueError, match="weighting must be one of"):
        cams.ScoreCAM(spatial_net(), "features", weighting="softmax")


def test_unknown_target_layer_names_the_module():
    with pytest.raises(KeyError, match="no module 'layer4'"):
        cams.GradCAM(spatial_net(), target_layer="layer4")


def test_non_spatial_target_layer_is_a_clear_error():
    with pytest.raises(ValueError, match=r"'head\.3' gives shape \(3, 12\)"):
        cams.GradCAM(spatial_net(), target_layer="head.3")(images(size=8), CLASS_IDS)


def test_guided_backprop_on_torchvision_resnet_with_shared_inplace_relus():
    """Bottleneck/BasicBlock reuse one in-place ReLU several times; the rule must still hold."""
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=4).eval()
    twin = copy.deepcopy(model)
    for module in twin.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = False
    x = torch.randn(2, 3, 32, 32)
    ours = cams.GuidedBackprop(model).attributions(x, [1, 2])
    torch.testing.assert_close(ours, cams.GuidedBackprop(twin).attributions(x, [1, 2]))
    assert not torch.equal(ours, cams.Saliency(model).attributions(x, [1, 2]))
    assert all(m.inplace for m in model.modules() if isinstance(m, nn.ReLU))


class _ExplicitGuidedReLU(torch.autograd.Function):
    """The rule written out: forward ReLU, backward ``ReLU(grad) * [x > 0]``."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad.clamp(min=0) * (x > 0)


class _ExplicitGuidedModule(nn.Module):
    def forward(self, x):
        return _ExplicitGuidedReLU.apply(x)


def test_guided_backprop_equals_the_rule_written_out_and_keeps_the_forward_pass():
    """The gradient hook + the ReLU's own mask give exactly ReLU(grad) * [x > 0] at every ReLU
    (also a shared in-place one); the forward pass is the model's own (same logits)."""
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=4).eval()
    explicit = copy.deepcopy(model)
    for parent in list(explicit.modules()):
        for child_name, child in parent.named_children():
            if isinstance(child, nn.ReLU):
                setattr(parent, child_name, _ExplicitGuidedModule())
    x = torch.randn(2, 3, 32, 32)
    reference = torch.autograd.grad(explicit(x.requires_grad_(True))[[0, 1], [1, 2]].sum(), x)[0]
    ours = cams.GuidedBackprop(model).attributions(x.detach(), [1, 2])
    torch.testing.assert_close(ours, reference, atol=1e-7, rtol=1e-5)
    guided_relus = []
    with cams.saliency.HookSet() as hooks:
        cams.saliency._guided_hooks(model, hooks)
        for module in model.modules():
            if isinstance(module, nn.ReLU):
                guided_relus.append(len(module._forward_hooks))
        with torch.no_grad():
            torch.testing.assert_close(model(x), explicit(x), atol=0, rtol=0)
    assert all(count == 1 for count in guided_relus)
    assert all(not m._forward_hooks for m in model.modules() if isinstance(m, nn.ReLU))


def test_guided_backprop_needs_relu_modules():
    model = nn.Sequential(nn.Conv2d(3, 2, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    with pytest.raises(ValueError, match="no nn.ReLU module"):
        cams.GuidedBackprop(model)(images(size=8), [0, 1, 1])


def test_smoothgrad_is_seeded_and_differs_from_saliency():
    model = spatial_net()
    x = images(size=12)
    first = cams.SmoothGrad(model, samples=4, seed=3)(x, CLASS_IDS)
    torch.testing.assert_close(first, cams.SmoothGrad(model, samples=4, seed=3)(x, CLASS_IDS))
    assert not torch.allclose(first, cams.SmoothGrad(model, samples=4, seed=4)(x, CLASS_IDS))
    assert not torch.allclose(first, cams.Saliency(model)(x, CLASS_IDS))


def test_occlusion_windows_cover_the_border():
    assert cams.occlusion.window_starts(10, 4, 4) == [0, 4, 6]
    assert cams.occlusion.window_starts(8, 4, 2) == [0, 2, 4]
    with pytest.raises(ValueError, match="larger than the image"):
        cams.occlusion.window_starts(3, 4, 1)
    maps = cams.Occlusion(spatial_net(), window=4, stride=4).explain(images(size=10), CLASS_IDS)
    assert torch.isfinite(maps).all()
