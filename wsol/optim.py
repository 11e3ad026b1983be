"""Optimizer helpers: scheduler construction and the printed per-epoch schedule."""

from __future__ import annotations

import inspect
import logging
import math
import warnings
from collections.abc import Callable
from functools import partial
from typing import Any

import torch

log = logging.getLogger("wsol")


def build_scheduler(
    factory: Callable[..., Any], optimizer: torch.optim.Optimizer, total_steps: int
) -> Any:
    """Call a partial scheduler, supplying ``total_steps`` and ``max_lr`` when it takes them.

    A OneCycleLR partial from YAML knows neither the run length nor the per-group learning
    rates (base lr and the new-layer multiple); both are known only here.

    Args:
        factory: partial scheduler constructor (``_partial_: true`` in YAML).
        optimizer: the optimizer whose groups carry their learning rates.
        total_steps: optimizer steps (or epochs, for epoch-wise schedulers) in the run.
    """
    target = factory.func if isinstance(factory, partial) else factory
    given = factory.keywords if isinstance(factory, partial) else {}
    parameters = inspect.signature(target).parameters
    extra: dict[str, Any] = {}
    if "total_steps" in parameters and given.get("total_steps") is None:
        if "epochs" not in given:
            extra["total_steps"] = _cycle_length(int(total_steps), given, parameters)
    if "max_lr" in parameters and given.get("max_lr") is None:
        extra["max_lr"] = [group["lr"] for group in optimizer.param_groups]
    return factory(optimizer, **extra)


def _cycle_length(total_steps: int, given: dict, parameters) -> int:
    """Steps of a one-cycle schedule: the run's, or enough for both phases to be non-empty.

    OneCycleLR divides by each phase's length, so a very short run (a debug run, a handful of
    batches) would crash; its cycle is then lengthened (and left unfinished), with a warning.
    """
    total_steps = max(1, total_steps)
    if "pct_start" not in parameters:
        return total_steps
    pct_start = given.get("pct_start", parameters["pct_start"].default)
    shortest = math.ceil(2 / pct_start) + 2 if pct_start > 0 else 2
    if total_steps < shortest:
        log.warning(
            "Only %d optimizer steps: the one-cycle schedule is stretched to %d steps",
            total_steps,
            shortest,
        )
        return shortest
    return total_steps


def epoch_learning_rates(
    optimizer_factory: Callable[..., torch.optim.Optimizer],
    scheduler_factory: Callable[..., Any] | None,
    group_lrs: dict[str, float],
    epochs: int,
    steps_per_epoch: int,
    interval: str,
) -> dict[str, list[float]]:
    """Learning rate of each group at the start of every epoch, from a dry run of the schedule.

    A throwaway optimizer with one scalar parameter per group (same factories, same initial
    learning rates) is stepped through the run, so what is printed is what the real scheduler
    will do. Args: ``interval`` is ``"epoch"`` or ``"step"``.

    Returns:
        ``{group name: [lr of epoch 0, lr of epoch 1, ...]}``.
    """
    params = [
        {"params": [torch.nn.Parameter(torch.zeros(()))], "lr": lr, "name": name}
        for name, lr in group_lrs.items()
    ]
    optimizer = optimizer_factory(params=params)
    per_epoch = max(1, int(steps_per_epoch))
    scheduler = None
    if scheduler_factory is not None:
        total = epochs if interval == "epoch" else epochs * per_epoch
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scheduler = build_scheduler(scheduler_factory, optimizer, total_steps=total)
    rates: dict[str, list[float]] = {name: [] for name in group_lrs}
    with warnings.catch_warnings():
        # Stepping a scheduler without optimizer.step() warns; nothing is trained here.
        warnings.simplefilter("ignore")
        for _ in range(epochs):
            for group in optimizer.param_groups:
                rates[group["name"]].append(float(group["lr"]))
            if scheduler is None:
                continue
            for _ in range(1 if interval == "epoch" else per_epoch):
                scheduler.step()
    return rates


def describe_epoch_learning_rates(rates: dict[str, list[float]]) -> str:
    """One line per epoch: ``epoch  1: pretrained 0.01  new 0.1`` (1-based, as the benchmark)."""
    names = list(rates)
    epochs = len(next(iter(rates.values()), []))
    lines = ["Learning rate at the start of each epoch (1-based):"]
    for epoch in range(epochs):
        cells = "  ".join(f"{name} {rates[name][epoch]:.6g}" for name in names)
        lines.append(f"  epoch {epoch + 1:>3d}: {cells}")
    return "\n".join(lines)
