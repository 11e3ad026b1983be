"""Build objects from a config read back from disk (a checkpoint's stored config) without
letting that file choose what code runs, what is written or what is downloaded.

``torch.load(weights_only=True)`` keeps a checkpoint from unpickling code, but Hydra's
``instantiate`` calls whatever a ``_target_`` names. A stored config is therefore data with a
schema (:mod:`wsol.checkpoints.stored_schema`). Before anything is built, the whole of it is walked:

1. every ``_target_`` must sit at a key path of the schema and name a target of that path's
   kind (a method class under ``method``, the backbone builder under ``backbone``...);
2. every other key of a target node must be a parameter of the target, and the only Hydra
   keys are ``_target_`` and ``_partial_`` (no ``_args_``, ``_recursive_``, ``_convert_``);
3. no value is an interpolation (``${...}``): a stored config is written resolved, so one can
   only have been put there by hand, and it could reach resolvers at build time.

Refusals name the checkpoint, the key path and the target. When a node is rebuilt, arguments
that download or read weights are forced off (the weights are the checkpoint's) and folders
are re-rooted under the current data dir (:func:`reroot`), or refused.
"""

from __future__ import annotations

import importlib
import inspect
import os
from pathlib import Path
from types import ModuleType
from typing import Any

from hydra.utils import instantiate
from omegaconf import OmegaConf

from wsol.checkpoints.stored_schema import ALLOWED_TARGETS, NO_DOWNLOAD, SLOTS, Slot, slot_at

__all__ = [
    "ALLOWED_TARGETS",
    "UntrustedConfigError",
    "check_stored_config",
    "instantiate_stored",
    "reroot",
]

# wsol modules whose callables run tasks, write files, start processes or handle configs and
# checkpoints: never a stored target.
DENIED_WSOL_MODULES = (
    "wsol.cli",
    "wsol.tasks",
    "wsol.configuration",
    "wsol.checkpoints",
    "wsol.optim",
    "wsol.metrics.warmup",
)
HYDRA_KEYS = ("_target_", "_partial_")


class UntrustedConfigError(ValueError):
    """A stored config names code, keys or folders that a checkpoint may not use."""


def _refuse(source: str, key: str, what: str) -> UntrustedConfigError:
    return UntrustedConfigError(f"{source}: refused before building anything: {key} {what}")


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


def _locate(target: Any, slot: Slot | None) -> Any | None:
    """The object ``target`` names when ``slot`` admits it, else None (nothing foreign imported)."""
    if slot is None or not isinstance(target, str):
        return None
    if target in slot.torch_names:
        module, _, name = target.rpartition(".")
        return getattr(importlib.import_module(module), name)
    obj = _locate_wsol(target)
    return obj if obj is not None and slot.admits(obj) else None


def _targets(node: Any, key: str, source: str, found: dict[str, Any]) -> None:
    """Pass 1: every ``_target_`` admitted at its key path; collects ``key → object``."""
    if isinstance(node, dict):
        if "_target_" in node:
            slot, target = slot_at(key), node["_target_"]
            obj = _locate(target, slot)
            if obj is None:
                where = f"{key}._target_" if key else "_target_"
                if not isinstance(target, str):
                    raise _refuse(source, where, f"is a {type(target).__name__}, not a class path")
                allowed = slot.what if slot else "nothing (no stored key path but "
                if slot is None:
                    allowed += ", ".join(sorted(SLOTS)) + " builds anything)"
                raise _refuse(
                    source, where, f"= {target!r} is not allowed: a checkpoint may build {allowed}"
                )
            found[key] = obj
        for name, value in node.items():
            if name != "_target_":
                _targets(value, f"{key}.{name}" if key else str(name), source, found)
    elif isinstance(node, (list, tuple)):
        for index, value in enumerate(node):
            _targets(value, f"{key}[{index}]", source, found)
    elif isinstance(node, str) and "${" in node:
        raise _refuse(source, key or "<root>", f"holds an interpolation {node!r}")


def _node_at(config: Any, key: str, prefix: str) -> dict:
    relative = "" if key == prefix else key[len(prefix) + 1 :] if prefix else key
    node = config
    for part in [p for p in relative.split(".") if p]:
        node = node[part]
    return node


def _parameters(obj: Any) -> tuple[list[str], bool]:
    """The keyword parameter names of a target, and whether it takes ``**kwargs``."""
    try:
        parameters = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        return [], True
    names = [p.name for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    return names, any(p.kind is p.VAR_KEYWORD for p in parameters)


def _keys(node: dict, key: str, obj: Any, source: str) -> None:
    """Pass 2: the keys of one target node are parameters of its target."""
    target = node["_target_"]
    names, takes_any = _parameters(obj)
    slot = slot_at(key)
    if takes_any and slot is not None and slot.extra_keys is not None:
        names, takes_any = [*names, *sorted(slot.extra_keys(node))], False
    for name in node:
        where = f"{key}.{name}" if key else str(name)
        if str(name).startswith("_") and str(name).endswith("_"):
            if name not in HYDRA_KEYS:
                raise _refuse(
                    source, where, f"(of {target}) is a Hydra option a stored config may not use"
                )
            if name == "_partial_" and not isinstance(node[name], bool):
                raise _refuse(source, where, f"(of {target}) must be true or false")
        elif name not in names and not takes_any:
            raise _refuse(
                source, where, f"is not a parameter of {target} (it takes {', '.join(names)})"
            )


def check_stored_config(config: Any, source: str, prefix: str = "") -> None:
    """Refuse a stored config (or a part of it) that the schema does not admit.

    Args:
        config: the stored config, or the part of it at ``prefix`` (plain data or OmegaConf).
        source: what it was read from (the checkpoint path), first in the error message.
        prefix: the key path of ``config`` inside the stored config (``data``...).

    Raises:
        UntrustedConfigError: naming ``source``, the key path and the target.
    """
    if OmegaConf.is_config(config):
        config = OmegaConf.to_container(config, resolve=False)
    found: dict[str, Any] = {}
    _targets(config, prefix, source, found)
    for key, obj in found.items():
        _keys(_node_at(config, key, prefix), key, obj, source)


def _escapes(relative: str) -> bool:
    return relative == ".." or relative.startswith(".." + os.sep)


def reroot(
    value: Any, key: str, source: str, data_dir: str | Path | None, stored_data_dir: Any
) -> str:
    """A folder stored in a checkpoint, moved under the current ``data_dir``.

    A folder under the data dir the checkpoint was trained with (``stored_data_dir``) keeps
    its place relative to it; one already inside ``data_dir`` stays. Anything else is refused:
    a checkpoint never chooses where data are read from or generated.
    """
    text = os.path.normpath(str(value))
    if data_dir is None:
        raise _refuse(source, key, f"= {value!r}: no data dir given to re-root it under")
    base = os.path.normpath(str(data_dir))
    relative = None
    if isinstance(stored_data_dir, str) and stored_data_dir:
        stored = os.path.normpath(stored_data_dir)
        if os.path.isabs(stored) == os.path.isabs(text):
            relative = os.path.relpath(text, stored)
    if (relative is None or _escapes(relative)) and os.path.isabs(text):
        relative = os.path.relpath(text, os.path.abspath(base))
    if relative is None or _escapes(relative):
        raise _refuse(
            source,
            key,
            f"= {value!r} lies outside the data dir the checkpoint was trained with "
            f"({stored_data_dir}) and outside the current one ({data_dir}); give the data "
            "explicitly (data=<config> data.data_root=...)",
        )
    return os.path.normpath(os.path.join(base, relative))


def _rebuildable(
    node: Any, key: str, source: str, found: dict, data_dir: Any, stored_data_dir: Any
) -> Any:
    """A copy of ``node`` with downloads forced off and stored folders re-rooted."""
    if isinstance(node, list):
        return [
            _rebuildable(v, f"{key}[{i}]", source, found, data_dir, stored_data_dir)
            for i, v in enumerate(node)
        ]
    if not isinstance(node, dict):
        return node
    out = {
        name: _rebuildable(
            value, f"{key}.{name}" if key else str(name), source, found, data_dir, stored_data_dir
        )
        for name, value in node.items()
    }
    if key in found:
        names, _ = _parameters(found[key])
        out.update({name: value for name, value in NO_DOWNLOAD.items() if name in names})
        slot = slot_at(key)
        for name in slot.paths if slot else ():
            if out.get(name) is not None:
                where = f"{key}.{name}" if key else name
                out[name] = reroot(out[name], where, source, data_dir, stored_data_dir)
    return out


def instantiate_stored(
    config: Any,
    source: str,
    prefix: str = "",
    *,
    data_dir: str | Path | None = None,
    stored_data_dir: str | None = None,
    **kwargs: Any,
) -> Any:
    """``hydra.utils.instantiate`` of a stored config, after :func:`check_stored_config`.

    Args:
        data_dir: the current data dir; stored folders are re-rooted under it.
        stored_data_dir: the data dir the checkpoint was written with (its ``data_dir``).
        kwargs: passed to ``instantiate`` (trusted: they come from code).
    """
    if OmegaConf.is_config(config):
        config = OmegaConf.to_container(config, resolve=False)
    check_stored_config(config, source, prefix)
    found: dict[str, Any] = {}
    _targets(config, prefix, source, found)
    config = _rebuildable(config, prefix, source, found, data_dir, stored_data_dir)
    return instantiate(OmegaConf.create(config), **kwargs)
