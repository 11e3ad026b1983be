"""Agreement with the peers: pytorch-grad-cam (Grad-CAM family, Score-CAM) and captum
(saliency, guided backpropagation, deconvnet, occlusion), after the same normalization."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import wsol.cams as cams
from tests.cams.nets import images, pearson, spatial_net
from wsol.cams.pipeline import scoremaps

pytorch_grad_cam = pytest.importorskip("pytorch_grad_cam")
captum_attr = pytest.importorskip("captum.attr")
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402

CLASS_IDS = [0, 3, 4]


def _peer_raw_maps(peer_class, model, x: torch.Tensor, class_ids) -> torch.Tensor:
    """pytorch-grad-cam's low-resolution map, ReLU applied, before its own resizing."""
    layer = model.features
    peer = peer_class(model=model, target_layers=[layer])
    targets = [ClassifierOutputTarget(c) for c in class_ids]
    try:
        outputs = peer.activations_and_grads(x)
        if peer.uses_gradients:
            model.zero_grad()
            sum(t(o) for t, o in zip(targets, outputs, strict=True)).backward()
        grads = peer.activations_and_grads.gradients
        raw = peer.get_cam_image(
            x,
            layer,
            targets,
            peer.activations_and_grads.activations[0].numpy(),
            grads[0].numpy() if grads else None,
            False,
        )
    finally:
        peer.activations_and_grads.release()
    return torch.from_numpy(np.maximum(raw, 0))


@pytest.mark.parametrize(
    ("mine", "theirs", "gain"),
    [
        (cams.GradCAM, "GradCAM", 1.0),
        # Large gradients make the peer's 1e-6 in the Grad-CAM++ denominator negligible.
        (cams.GradCAMPlusPlus, "GradCAMPlusPlus", 1000.0),
        (cams.XGradCAM, "XGradCAM", 1.0),
        (cams.LayerCAM, "LayerCAM", 1.0),
        (cams.ScoreCAM, "ScoreCAM", 1.0),
    ],
)
def test_layer_maps_agree_with_pytorch_grad_cam(mine, theirs, gain):
    model = spatial_net(gain=gain)
    x = images(size=24)
    ours = mine(model, target_layer="features")(x, CLASS_IDS)
    peer = _peer_raw_maps(getattr(pytorch_grad_cam, theirs), model, x, CLASS_IDS)
    theirs_maps, invalid = scoremaps(peer, tuple(x.shape[-2:]))
    assert not invalid.any()
    assert (pearson(ours, theirs_maps) >= 0.999).all(), pearson(ours, theirs_maps)


def test_gradcam_plus_plus_follows_the_paper_when_gradients_are_tiny():
    """Gradients of 1e-5: 2 g^2 is far below pytorch-grad-cam's 1e-6; no epsilon here."""
    model = spatial_net(gain=1e-4)
    x = images(size=24)
    features = model.features(x).detach().double().requires_grad_(True)
    head = spatial_net(gain=1e-4).head.double()
    (grads,) = torch.autograd.grad(head(features)[range(3), CLASS_IDS].sum(), features)
    a, g = features.detach().numpy(), grads.numpy()
    assert np.abs(g).max() < 1e-3
    denominator = 2 * g**2 + a.sum(axis=(2, 3), keepdims=True) * g**3
    alpha = np.divide(g**2, denominator, out=np.zeros_like(g), where=denominator != 0)
    weights = (alpha * np.maximum(g, 0)).sum(axis=(2, 3))
    expected = np.maximum(np.einsum("bc,bchw->bhw", weights, a), 0)
    ours = cams.GradCAMPlusPlus(model, target_layer="features").explain(x, CLASS_IDS)
    assert (pearson(ours, torch.from_numpy(expected)) > 0.99999).all()
    peer = _peer_raw_maps(pytorch_grad_cam.GradCAMPlusPlus, model, x, CLASS_IDS)
    assert (pearson(peer, torch.from_numpy(expected)) < 0.999).any()


def _captum_maps(attribution: torch.Tensor) -> torch.Tensor:
    return scoremaps(attribution.abs().amax(dim=1), tuple(attribution.shape[-2:]))[0]


@pytest.mark.parametrize(
    ("mine", "theirs"),
    [
        (cams.Saliency, "Saliency"),
        (cams.GuidedBackprop, "GuidedBackprop"),
        (cams.Deconvnet, "Deconvolution"),
    ],
)
def test_input_gradients_agree_with_captum(mine, theirs):
    model = spatial_net()  # captum's ReLU hooks need ReLUs that are not in-place
    x = images(size=16)
    ours = mine(model)
    expected = getattr(captum_attr, theirs)(model).attribute(
        x.clone().requires_grad_(True), target=torch.tensor(CLASS_IDS)
    )
    if mine is cams.Saliency:
        expected = expected.abs()  # captum's Saliency returns |gradient| by default already
    torch.testing.assert_close(ours.attributions(x, CLASS_IDS), expected.detach())
    torch.testing.assert_close(ours(x, CLASS_IDS), _captum_maps(expected.detach()))


def test_smoothgrad_agrees_with_captum_noise_tunnel_without_noise():
    model = spatial_net()
    x = images(size=16)
    ours = cams.SmoothGrad(model, samples=3, noise_level=0.0)(x, CLASS_IDS)
    expected = captum_attr.Saliency(model).attribute(x, target=torch.tensor(CLASS_IDS))
    torch.testing.assert_close(ours, _captum_maps(expected))


def test_occlusion_agrees_with_captum_where_windows_tile_the_image():
    model = spatial_net()
    x = images(size=12)
    ours = cams.Occlusion(model, window=4, stride=2, batch_size=7).explain(x, CLASS_IDS)
    expected = captum_attr.Occlusion(model).attribute(
        x,
        sliding_window_shapes=(3, 4, 4),
        strides=(3, 2, 2),
        target=torch.tensor(CLASS_IDS),
        perturbations_per_eval=25,
    )
    # captum repeats the per-pixel score drop on each color channel.
    torch.testing.assert_close(ours, expected[:, 0], rtol=1e-4, atol=1e-5)
