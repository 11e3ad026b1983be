"""Optimizer helpers: fill a partial scheduler's run-dependent arguments."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import partial
from typing import Any

import torch


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
            extra["total_steps"] = max(1, int(total_steps))
    if "max_lr" in parameters and given.get("max_lr") is None:
        extra["max_lr"] = [group["lr"] for group in optimizer.param_groups]
    return factory(optimizer, **extra)
