"""The hook manager: exact outputs and gradients next to in-place ops, and no leftover hooks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from wsol.cams.hooks import HookSet, LayerHooks, resolve_modules


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),  # "0": followed by an in-place ReLU
        nn.ReLU(inplace=True),
        nn.Conv2d(6, 8, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 5),
    ).eval()


def _hook_count(model: nn.Module) -> int:
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
        for m in model.modules()
    )


def test_output_and_gradient_are_the_modules_own_before_the_inplace_relu():
    model = _net()
    x = torch.randn(2, 3, 8, 8)
    # Reference: the conv output as an explicit leaf, the rest of the network applied to it.
    pre = model[0](x).detach().requires_grad_(True)
    score = model[2:](torch.relu(pre))[:, 3].sum()
    (expected_grad,) = torch.autograd.grad(score, pre)
    assert (pre < 0).any()  # the ReLU changes this tensor, so the test can fail

    with LayerHooks(model, "0", backward=True) as hooks:
        logits = model(x)
        grads = hooks.grads_of(logits[:, 3].sum())
    torch.testing.assert_close(hooks.outputs["0"], pre.detach())
    torch.testing.assert_close(grads["0"], expected_grad)
    torch.testing.assert_close(logits, model(x))


def test_backward_call_fills_grads_through_the_tensor_hook():
    model = _net()
    x = torch.randn(2, 3, 8, 8)
    with LayerHooks(model, ["0", "2"], backward=True) as hooks:
        model(x)[:, 1].sum().backward()
        by_hook = dict(hooks.grads)
    with LayerHooks(model, ["0", "2"], backward=True) as hooks:
        by_grad = hooks.grads_of(model(x)[:, 1].sum())
    for name in ("0", "2"):
        torch.testing.assert_close(by_hook[name], by_grad[name])


def test_hooks_removed_on_exit_and_on_error():
    model = _net()
    before = _hook_count(model)
    with LayerHooks(model, ["0", "2"]):
        assert _hook_count(model) == before + 2
    assert _hook_count(model) == before
    with pytest.raises(ValueError, match="boom"), LayerHooks(model, ["0"]):
        model(torch.randn(1, 3, 8, 8))
        raise ValueError("boom")
    assert _hook_count(model) == before


def test_module_running_twice_raises_and_leaves_no_hook():
    relu = nn.ReLU()
    model = nn.Sequential(nn.Conv2d(3, 3, 1), relu, nn.Conv2d(3, 3, 1), relu)
    with pytest.raises(RuntimeError, match=r"'1' \(ReLU\) ran 2 times"), LayerHooks(model, "1"):
        model(torch.randn(1, 3, 4, 4))
    assert _hook_count(model) == 0


def test_reset_allows_a_second_forward_pass():
    model = _net()
    with LayerHooks(model, "2") as hooks:
        model(torch.randn(1, 3, 8, 8))
        hooks.reset()
        x = torch.randn(1, 3, 8, 8)
        model(x)
        assert hooks.calls == {"2": 1}
        captured = hooks.outputs["2"]
    torch.testing.assert_close(captured, model[:3](x))


def test_frozen_model_under_no_grad_gets_a_leaf_when_grad_is_enabled_locally():
    model = _net().requires_grad_(False)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad(), LayerHooks(model, "2", backward=True) as hooks:
        with torch.enable_grad():
            grads = hooks.grads_of(model(x)[:, 0].sum())
        assert grads["2"].abs().sum() > 0
    assert not any(p.requires_grad for p in model.parameters())
    assert all(p.grad is None for p in model.parameters())


def test_grads_of_without_graph_is_a_clear_error():
    model = _net()
    with LayerHooks(model, "2") as hooks:
        out = model(torch.randn(1, 3, 8, 8))
        assert not hooks.outputs["2"].requires_grad
        with pytest.raises(RuntimeError, match="backward=True"):
            hooks.grads_of(out.sum())


def test_paused_forward_is_not_captured():
    model = _net()
    with LayerHooks(model, "2") as hooks:
        with hooks.paused():
            model(torch.randn(1, 3, 8, 8))
        assert hooks.outputs == {} and hooks.calls == {}
        model(torch.randn(1, 3, 8, 8))
        assert hooks.calls == {"2": 1}


def test_unknown_or_repeated_names_are_errors():
    model = _net()
    with pytest.raises(KeyError, match="no module 'layer4'"):
        resolve_modules(model, "layer4")
    with pytest.raises(ValueError, match="repeat"):
        resolve_modules(model, ["0", "0"])


def test_tuple_output_is_rejected():
    class Pair(nn.Module):
        def forward(self, x):
            return x, x

    model = nn.Sequential(Pair())
    with pytest.raises(TypeError, match="not a Tensor"), LayerHooks(model, "0"):
        model(torch.randn(1, 2))


def test_hookset_removes_every_handle():
    model = _net()
    with HookSet() as hooks:
        for module in model:
            hooks.add(module.register_forward_hook(lambda *args: None))
        assert _hook_count(model) == len(model)
    assert _hook_count(model) == 0
