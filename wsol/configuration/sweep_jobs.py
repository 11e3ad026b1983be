"""The jobs of a multirun, listed before the first starts, so that each is validated up front.

Hydra's basic sweeper runs the cartesian product of the discrete sweeps of the command line and
of ``hydra.sweeper.params`` (``a=1,2 b=x,y`` → four jobs). :func:`job_overrides` lists the same
product; sweepers that sample (Optuna's intervals) have no list: their base config is checked.
"""

from __future__ import annotations

import itertools
from typing import Any

from hydra import compose
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

# More jobs than this are validated by their base config only (composing each takes time).
MAX_JOBS = 1000


def job_overrides(config: DictConfig) -> list[list[str]] | None:
    """The override list of every job of the multirun ``config``; None when not enumerable."""
    sweeper = OmegaConf.select(config, "hydra.sweeper", default=None)
    target = str((sweeper or {}).get("_target_", ""))
    if not target.endswith("BasicSweeper"):
        return None
    params = sweeper.get("params")
    params = OmegaConf.to_container(params, resolve=False) if params is not None else {}
    task = list(OmegaConf.to_container(config.hydra.overrides.task, resolve=False))
    lines = [f"{key}={value}" for key, value in params.items()] + task
    choices: list[list[str]] = []
    for override in OverridesParser.create().parse_overrides(lines):
        if override.is_sweep_override():
            if not override.is_discrete_sweep():
                return None
            key = override.get_key_element()
            choices.append([f"{key}={value}" for value in override.sweep_string_iterator()])
        else:
            choices.append([override.input_line])
    count = 1
    for values in choices:
        count *= len(values)
    if count > MAX_JOBS:
        return None
    return [list(job) for job in itertools.product(*choices)]


def job_configs(config: DictConfig) -> list[tuple[list[str], Any]]:
    """(overrides, composed config) of every job, composed as the sweeper will compose it."""
    jobs = job_overrides(config)
    if not jobs or not GlobalHydra.instance().is_initialized():
        return []
    name = config.hydra.job.config_name
    return [
        (job, compose(config_name=name, overrides=job, return_hydra_config=True)) for job in jobs
    ]
