"""Instantiate the optional, named collections of a config: callbacks and loggers."""

from __future__ import annotations

from hydra.utils import instantiate
from lightning.pytorch import Callback
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig


def _instantiate_named(cfg: DictConfig | None, group: str, kind: type) -> list:
    """Instantiate every entry of ``cfg`` (a mapping name → node with ``_target_``).

    Entries set to null are skipped, which is how a run switches a default callback off
    (``callbacks.lr_monitor=null``).
    """
    if cfg is None:
        return []
    if not isinstance(cfg, DictConfig):
        raise TypeError(f"{group} must be a mapping of name -> config, got {type(cfg).__name__}")
    objects = []
    for name, node in cfg.items():
        if node is None:
            continue
        if not isinstance(node, DictConfig) or "_target_" not in node:
            raise ValueError(f"{group}.{name}: expected a node with _target_, got {node!r}")
        obj = instantiate(node)
        if not isinstance(obj, kind):
            raise TypeError(f"{group}.{name}: {type(obj).__name__} is not a {kind.__name__}")
        objects.append(obj)
    return objects


def instantiate_callbacks(cfg: DictConfig | None) -> list[Callback]:
    return _instantiate_named(cfg, "callbacks", Callback)


def instantiate_loggers(cfg: DictConfig | None) -> list[Logger]:
    return _instantiate_named(cfg, "logger", Logger)
