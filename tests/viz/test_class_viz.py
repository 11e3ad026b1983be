"""Class model visualization: the class score rises; the model is left as it was."""

from __future__ import annotations

import pytest
import torch

from wsol.methods.cam import CAMMethod
from wsol.models.tiny import tiny
from wsol.viz.class_viz import class_model_visualization, class_visualization_grid

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _model() -> CAMMethod:
    """A small CAM network with BatchNorm statistics and class weights of a trained scale."""
    torch.manual_seed(0)
    model = CAMMethod(tiny(), num_classes=3).train()
    with torch.no_grad():
        model(torch.randn(8, 3, 32, 32))  # running statistics away from the initial 0 / 1
        torch.nn.init.normal_(model.head.fc.weight)
    return model


@pytest.mark.parametrize("init", ["blank", "random"])
def test_gradient_ascent_raises_the_class_score(init):
    model = _model()
    result = class_model_visualization(
        model, class_id=2, image_size=(32, 32), steps=25, lr=0.1, init=init, mean=MEAN, std=STD
    )
    assert result.image.shape == (3, 32, 32)
    assert result.scores.shape == (26,)
    assert result.scores[-1] > result.scores[0] + 0.5
    # The image stays inside the range of real pixels.
    low = (0 - torch.tensor(MEAN)) / torch.tensor(STD)
    high = (1 - torch.tensor(MEAN)) / torch.tensor(STD)
    flat = result.image.flatten(1)
    assert torch.all(flat.min(1).values >= low - 1e-6)
    assert torch.all(flat.max(1).values <= high + 1e-6)
    model.eval()
    with torch.no_grad():
        logits = model(result.image[None]).logits[0]
    assert logits[2] == pytest.approx(float(result.scores[-1]), rel=1e-5, abs=1e-5)
    assert int(logits.argmax()) == 2  # the image is now classified as the class


def test_model_state_is_restored_inside_no_grad_and_inference_mode():
    model = _model().train()
    model.head.fc.weight.requires_grad_(False)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    model.backbone.stages[0][0].weight.grad = torch.ones_like(model.backbone.stages[0][0].weight)
    bn = model.backbone.stages[0][1]
    running = bn.running_mean.clone()
    for context in (torch.no_grad, torch.inference_mode):
        with context():
            result = class_model_visualization(model, 0, (24, 24), steps=3, blur_every=1)
        assert result.scores.shape == (4,)
    assert model.training and bn.training
    assert not model.head.fc.weight.requires_grad
    assert all(p.requires_grad for n, p in model.named_parameters() if n != "head.fc.weight")
    assert torch.all(model.backbone.stages[0][0].weight.grad == 1)
    assert model.head.fc.bias.grad is None
    assert torch.equal(bn.running_mean, running)  # ran in eval mode: no BN statistics update
    for name, p in model.named_parameters():
        assert torch.equal(p, before[name]), name


def test_seeded_runs_repeat_and_grid():
    model = _model()
    a = class_model_visualization(model, 1, (16, 16), steps=4, init="random", seed=3)
    b = class_model_visualization(model, 1, (16, 16), steps=4, init="random", seed=3)
    assert torch.equal(a.image, b.image)
    grid = class_visualization_grid([a, b], MEAN, STD, class_names=["x", "y", "z"], scale=2)
    assert grid.dtype == torch.uint8 and grid.shape[-1] == 2 * (32 + 2) + 2
    with pytest.raises(ValueError, match="init"):
        class_model_visualization(model, 1, (16, 16), init="noise")
