"""Optimizer helpers: fill a partial scheduler's run-dependent arguments."""

from __future__ import annotations

import inspect
import logging
import math
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
