"""Build objects from a config read back from disk (a checkpoint's stored config) without
letting that file choose what code runs.

``torch.load(weights_only=True)`` keeps a checkpoint from unpickling code, but Hydra's
``instantiate`` calls whatever a ``_target_`` names: a stored ``{_target_: builtins.open, ...}``
would run. A stored config is therefore data: before anything is built, the whole of it is
walked and every ``_target_`` must be

- a class or function defined in the ``wsol`` package, outside the modules that run tasks,
  write run outputs or start processes (:data:`DENIED_WSOL_MODULES`), reached without private
  (``_``) names; or
- one of :data:`ALLOWED_TARGETS`, the torch optimizers and schedulers the configs use.

A stored config is written resolved, so an interpolation (``${...}``) in it can only have been
put there by hand; it could reach resolvers or other keys at build time, and is refused too.
The error names the key path and the target.
"""

from __future__ import annotations

import importlib
import inspect
from types import ModuleType
from typing import Any

from hydra.utils import instantiate
from omegaconf import OmegaConf

# Non-wsol targets a stored config may name: the optimizers and schedulers of configs/module/.
ALLOWED_TARGETS = frozenset(
    {
        "torch.optim.SGD",
        "torch.optim.Adam",
        "torch.optim.AdamW",
        "torch.optim.RMSprop",
        "torch.optim.lr_scheduler.StepLR",
        "torch.optim.lr_scheduler.MultiStepLR",
        "torch.optim.lr_scheduler.OneCycleLR",
        "torch.optim.lr_scheduler.CosineAnnealingLR",
        "torch.optim.lr_scheduler.LinearLR",
        "torch.optim.lr_scheduler.ExponentialLR",
    }
)

# wsol modules whose callables run tasks, write files or start processes: never a stored target.
DENIED_WSOL_MODULES = ("wsol.cli", "wsol.tasks", "wsol.utils", "wsol.metrics.warmup")


class UntrustedConfigError(ValueError):
    """A stored config names code that a checkpoint may not run."""


def _refuse(source: str, key: str, what: str) -> UntrustedConfigError:
    return UntrustedConfigError(
        f"{source}: refused before building anything: {key} {what}. A stored config may only "
        "build classes and functions of the wsol package and the torch optimizers/schedulers "
        "listed in wsol.utils.safe_instantiate.ALLOWED_TARGETS"
    )


def _denied_module(name: str) -> bool:
    return any(name == denied or name.startswith(denied + ".") for denied in DENIED_WSOL_MODULES)


def _locate_wsol(target: str) -> Any | None:
    """The object a ``wsol.``-target names, importing only wsol modules; None if not allowed."""
    parts = target.split(".")
    if parts[0] != "wsol" or any(not part or part.startswith("_") for part in parts):
        return None
    obj: Any = importlib.import_module("wsol")
    for depth, part in enumerate(parts[1:], start=2):
        if isinstance(obj, ModuleType) and not obj.__name__.startswith("wsol"):
            return None
        if hasattr(obj, part):
            obj = getattr(obj, part)
        elif isinstance(obj, ModuleType):
            try:
                obj = importlib.import_module(".".join(parts[:depth]))
            except ImportError:
                return None
        else:
            return None
    if not (inspect.isclass(obj) or inspect.isfunction(obj)):
        return None
    module = getattr(obj, "__module__", "") or ""
    if not module.startswith("wsol.") or _denied_module(module):
        return None
    return obj


def check_target(target: Any, key: str, source: str) -> None:
    """Raise :class:`UntrustedConfigError` unless ``target`` is an allowed ``_target_``."""
    if not isinstance(target, str):
        raise _refuse(source, key, f"is a {type(target).__name__}, not a class path")
    if target in ALLOWED_TARGETS:
        return
    if _locate_wsol(target) is None:
        raise _refuse(source, key, f"= {target!r} is not allowed")


def _walk(node: Any, key: str, source: str) -> None:
    if isinstance(node, dict):
        for name, value in node.items():
            child = f"{key}.{name}" if key else str(name)
            if name == "_target_":
                check_target(value, child, source)
            else:
                _walk(value, child, source)
    elif isinstance(node, (list, tuple)):
        for index, value in enumerate(node):
            _walk(value, f"{key}[{index}]", source)
    elif isinstance(node, str) and "${" in node:
        raise _refuse(source, key or "<root>", f"holds an interpolation {node!r}")


def check_stored_config(config: Any, source: str, prefix: str = "") -> None:
    """Walk a stored config (plain dicts/lists) and refuse any target a checkpoint may not build.

    Args:
        config: the stored config, or a part of it.
        source: what it was read from (the checkpoint path), first in the error message.
        prefix: the key path of ``config`` inside the stored config (``data``...).
    """
    if OmegaConf.is_config(config):
        config = OmegaConf.to_container(config, resolve=False)
    _walk(config, prefix, source)


def instantiate_stored(config: Any, source: str, prefix: str = "", **kwargs: Any) -> Any:
    """``hydra.utils.instantiate`` of a stored config, after :func:`check_stored_config`."""
    if OmegaConf.is_config(config):
        config = OmegaConf.to_container(config, resolve=False)
    check_stored_config(config, source, prefix)
    return instantiate(OmegaConf.create(config), **kwargs)
