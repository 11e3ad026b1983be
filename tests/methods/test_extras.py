"""The method contract's extras and head factory: what generic code reads from a method."""

from __future__ import annotations

from functools import partial

import torch

from wsol.methods import ACoLMethod, CAMMethod
from wsol.models import build_backbone
from wsol.models.heads import ClassMapHead, GAPHead


def test_cam_head_comes_from_the_factory():
    backbone = build_backbone("tiny", widths=(4, 6, 8))
    assert isinstance(CAMMethod(backbone, 3).head, GAPHead)
    method = CAMMethod(backbone, 3, head=partial(ClassMapHead, width=5))
    assert isinstance(method.head, ClassMapHead)
    assert method.head.layers[0].in_channels == 8 and method.head.layers[0].out_channels == 5
    output = method(torch.randn(2, 3, 32, 32))
    assert output.class_maps.shape == (2, 3, 4, 4) and output.logits.shape == (2, 3)
    torch.testing.assert_close(output.logits, output.class_maps.mean(dim=(2, 3)))


def test_acol_builds_both_branches_from_one_factory():
    method = ACoLMethod(
        build_backbone("tiny", widths=(4, 6, 8)), 3, head=partial(ClassMapHead, width=5)
    )
    assert method.head_a is not method.head_b
    assert method.head_a.layers[0].out_channels == method.head_b.layers[0].out_channels == 5


def test_cam_declares_no_extras():
    method = CAMMethod(build_backbone("tiny", widths=(4, 6, 8)), 3)
    assert method.extra_maps == {}
    assert method.extra_scalars(method(torch.randn(1, 3, 32, 32))) == {}


def test_acol_extras_are_its_shares():
    method = ACoLMethod(
        build_backbone("tiny", widths=(4, 6, 8)), 3, head=partial(ClassMapHead, width=5)
    )
    output = method(torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 0]))
    output.aux["constant_attention"] = torch.tensor([True, False, False, False])
    scalars = method.extra_scalars(output)
    assert set(scalars) == {"constant_attention", "erased_fraction"}
    assert float(scalars["constant_attention"]) == 0.25
    assert all(value.ndim == 0 for value in scalars.values())
    assert set(method.extra_maps) <= set(output.aux)


def test_lit_module_logs_what_the_method_declares(monkeypatch):
    from wsol.lit_module import WSOLLitModule
    from wsol.methods.has import HaSMethod

    method = HaSMethod(build_backbone("tiny", widths=(4, 6, 8)), 3, grid=8, hide_prob=1.0)
    module = WSOLLitModule(method, optimizer=partial(torch.optim.SGD, lr=0.1))
    logged = {}
    monkeypatch.setattr(module, "log", lambda name, value, **kw: logged.update({name: (value, kw)}))
    batch = {"images": torch.randn(2, 3, 32, 32), "labels": torch.tensor([0, 2])}
    module.training_step(batch, 0)
    value, options = logged["train/hidden_fraction"]
    assert float(value) == 1.0 and options["on_epoch"] and options["batch_size"] == 2
    assert not any("constant_attention" in name for name in logged)
