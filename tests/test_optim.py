"""Scheduler construction from partials (run-dependent arguments filled in)."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from wsol.optim import (
    build_scheduler,
    describe_epoch_learning_rates,
    epoch_learning_rates,
)
from wsol.schedulers import BenchmarkStepLR


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


def benchmark_loop(lr: float, frequency: int, epochs: int) -> list[float]:
    """wsolevaluation main.py: adjust_learning_rate(epoch + 1) before each training epoch."""
    rates = []
    for epoch in range(epochs):
        if (epoch + 1) != 0 and (epoch + 1) % frequency == 0:
            lr *= 0.1
        rates.append(lr)
    return rates


@pytest.mark.parametrize(("frequency", "epochs"), [(30, 40), (15, 50), (3, 10), (1, 3)])
def test_benchmark_step_decays_at_the_benchmark_epochs(frequency, epochs):
    optimizer = optimizer_with_two_groups()
    scheduler = BenchmarkStepLR(optimizer, step_size=frequency)
    seen = []
    for _ in range(epochs):
        seen.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    for group, base in enumerate((0.1, 1.0)):
        assert [lrs[group] for lrs in seen] == pytest.approx(
            benchmark_loop(base, frequency, epochs)
        )
    if frequency == 30:
        # The 30th epoch (0-based 29) already runs at 0.1x; torch's StepLR would decay at 30.
        assert seen[28][0] == pytest.approx(0.1) and seen[29][0] == pytest.approx(0.01)


def test_benchmark_step_resumes_from_its_state():
    optimizer = optimizer_with_two_groups()
    scheduler = BenchmarkStepLR(optimizer, step_size=2)
    for _ in range(3):
        optimizer.step()
        scheduler.step()
    state = scheduler.state_dict()
    fresh_optimizer = optimizer_with_two_groups()
    fresh = BenchmarkStepLR(fresh_optimizer, step_size=2)
    fresh.load_state_dict(state)
    fresh_optimizer.load_state_dict(optimizer.state_dict())
    optimizer.step(), scheduler.step()
    fresh_optimizer.step(), fresh.step()
    assert [g["lr"] for g in fresh_optimizer.param_groups] == [
        g["lr"] for g in optimizer.param_groups
    ]


def test_epoch_learning_rates_dry_run_and_text():
    factory = partial(torch.optim.SGD, lr=0.5, momentum=0.9)
    rates = epoch_learning_rates(
        factory,
        partial(BenchmarkStepLR, step_size=2),
        {"pretrained": 0.5, "new": 5.0},
        epochs=5,
        steps_per_epoch=3,
        interval="epoch",
    )
    assert rates["pretrained"] == pytest.approx(benchmark_loop(0.5, 2, 5))
    assert rates["new"] == pytest.approx(benchmark_loop(5.0, 2, 5))
    text = describe_epoch_learning_rates(rates)
    assert "epoch   2: pretrained 0.05  new 0.5" in text
    one_cycle = epoch_learning_rates(
        partial(torch.optim.AdamW, lr=0.01),
        partial(torch.optim.lr_scheduler.OneCycleLR, pct_start=0.25),
        {"all": 0.01},
        epochs=4,
        steps_per_epoch=10,
        interval="step",
    )
    # One-cycle: the warm-up ends after a quarter of the 40 steps (epoch 2 starts near the peak).
    assert one_cycle["all"][0] < one_cycle["all"][1] == pytest.approx(0.01, rel=0.01)
    assert one_cycle["all"][3] < one_cycle["all"][2]
