"""Scheduler construction from partials (run-dependent arguments filled in)."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from wsol.utils.optim import build_scheduler


def optimizer_with_two_groups():
    a, b = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    return torch.optim.SGD([{"params": [a], "lr": 0.1}, {"params": [b], "lr": 1.0}], lr=0.1)


def test_one_cycle_gets_run_length_and_group_rates():
    optimizer = optimizer_with_two_groups()
    factory = partial(torch.optim.lr_scheduler.OneCycleLR, pct_start=0.25)
    scheduler = build_scheduler(factory, optimizer, total_steps=40)
    assert scheduler.total_steps == 40
    assert [g["max_lr"] for g in optimizer.param_groups] == [0.1, 1.0]


@pytest.mark.parametrize("steps", [1, 2, 4, 9])
def test_one_cycle_survives_very_short_runs(steps):
    optimizer = optimizer_with_two_groups()
    factory = partial(torch.optim.lr_scheduler.OneCycleLR, pct_start=0.25)
    scheduler = build_scheduler(factory, optimizer, total_steps=steps)
    for _ in range(steps):
        optimizer.step()
        scheduler.step()
    assert scheduler.total_steps >= steps


def test_explicit_arguments_are_kept():
    optimizer = optimizer_with_two_groups()
    factory = partial(torch.optim.lr_scheduler.OneCycleLR, max_lr=0.5, total_steps=30)
    scheduler = build_scheduler(factory, optimizer, total_steps=7)
    assert scheduler.total_steps == 30
    assert [g["max_lr"] for g in optimizer.param_groups] == [0.5, 0.5]


def test_step_lr_needs_nothing_from_the_run():
    optimizer = optimizer_with_two_groups()
    scheduler = build_scheduler(partial(torch.optim.lr_scheduler.StepLR, step_size=3), optimizer, 9)
    assert scheduler.step_size == 3
