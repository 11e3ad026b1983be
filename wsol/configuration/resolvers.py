"""OmegaConf resolvers the configs use, registered by :mod:`wsol.cli` and ``compose_config``.

``${wsol.default:VALUE,DEFAULT}`` is DEFAULT where VALUE is null or empty (``oc.select`` only
falls back for a missing key, and gives None for a null one: ``run_name: null`` named every run
directory ``None``).

``${wsol.class_count:METADATA_ROOT}`` is the number of class names in
``METADATA_ROOT/class_names.txt`` (what the converters write), so ``data=folder`` needs no class
count; None while the root is unset (validation then names ``num_classes``).

``${wsol.backbone_norm:mean|std,BACKBONE_NAME}`` is the input normalization the backbone's weights
expect, declared where the backbone is registered (:func:`wsol.models.backbone_normalization`);
ImageNet's when the name is null (no backbone in the config). ``backbone=timm`` adds the model
name: ``${wsol.backbone_norm:mean,timm,${backbone.model_name}}``.

``${wsol.cwd:}`` is the directory relative paths start from (``paths.root_dir``). Hydra's own
``${hydra:runtime.cwd}`` only resolves once Hydra has set its config: a multirun resolves
``hydra.sweep.dir`` (which goes through ``paths.log_dir``) before that, and fails with
"HydraConfig was not set" even when ``WSOL_LOG_DIR`` is given (OmegaConf evaluates an
``oc.env`` default eagerly).
"""

from __future__ import annotations

import os
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf


def runtime_cwd() -> str:
    """Hydra's ``runtime.cwd`` where a Hydra config is set (a run, a multirun job,
    :func:`wsol.configuration.compose.compose_config`), else the process's working directory (what
    Hydra records as ``runtime.cwd`` when it composes the config)."""
    if HydraConfig.initialized():
        return str(HydraConfig.get().runtime.cwd)
    return os.getcwd()


def default_if_null(value, default):
    """``default`` where ``value`` is None or an empty string, else ``value``."""
    return default if value is None or value == "" else value


def class_count(metadata_root) -> int | None:
    """Lines of ``<metadata_root>/class_names.txt``; None when no root is given."""
    if metadata_root is None or metadata_root == "":
        return None
    names = Path(str(metadata_root)) / "class_names.txt"
    if not names.is_file():
        raise FileNotFoundError(
            f"data.num_classes: null needs {names} (written by scripts/prepare_*.py); "
            "or set data.num_classes"
        )
    return sum(1 for line in names.read_text(encoding="utf-8-sig").splitlines() if line.strip())


def backbone_norm(which, name, *values) -> list[float]:
    """``mean`` or ``std`` of the registered backbone ``name`` (see the module docstring);
    ``values``: options its normalization depends on (timm's model name)."""
    from wsol.models.registry import backbone_normalization

    return backbone_normalization(which, name, *values)


def register_resolvers() -> None:
    """Register ``wsol.cwd``, ``wsol.default``, ``wsol.class_count`` and ``wsol.backbone_norm``
    (idempotent)."""
    resolvers = (
        ("wsol.cwd", runtime_cwd),
        ("wsol.default", default_if_null),
        ("wsol.class_count", class_count),
        ("wsol.backbone_norm", backbone_norm),
    )
    for name, resolver in resolvers:
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, resolver)
