"""Load wsol checkpoints safely (``weights_only=True``) and rebuild their module.

A checkpoint is data: its stored config is checked by :mod:`wsol.checkpoints.safe_instantiate`
before anything is built from it.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import torch

from wsol.checkpoints.safe_instantiate import check_stored_config, instantiate_stored

log = logging.getLogger("wsol")


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint without unpickling arbitrary objects, and check its stored config.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a readable checkpoint (truncated, not a torch file...); names the path.
        UntrustedConfigError: its stored config names code a checkpoint may not run.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ckpt_path: checkpoint not found: {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - re-raised with the file name
        raise ValueError(f"{path}: not a loadable wsol checkpoint ({error})") from error
    if not isinstance(checkpoint, dict):
        raise ValueError(f"{path}: not a wsol checkpoint (a {type(checkpoint).__name__})")
    hyper_parameters = checkpoint.get("hyper_parameters") or {}
    if not isinstance(hyper_parameters, dict):
        raise ValueError(f"{path}: hyper_parameters is not a mapping")
    for key, value in hyper_parameters.items():
        # The run config's key paths are those of the run's own config (module.method...).
        check_stored_config(value, str(path), "" if key == "run_config" else str(key))
    return checkpoint


def stored_config(checkpoint: dict, path: str | Path = "checkpoint") -> dict:
    """The resolved run config that ``wsol-train`` stored in the checkpoint, checked whole.

    Raises:
        UntrustedConfigError: a ``_target_`` anywhere in it is not one a checkpoint may build.
    """
    config = checkpoint.get("hyper_parameters", {}).get("run_config")
    if not config:
        raise ValueError(f"{path}: has no stored wsol config (was it written by wsol-train?)")
    if not isinstance(config, dict):
        raise ValueError(f"{path}: the stored wsol config is not a mapping")
    config = copy.deepcopy(config)
    check_stored_config(config, str(path))
    return config


def module_from_checkpoint(path: str | Path):
    """Rebuild the :class:`WSOLLitModule` of a checkpoint and load its weights.

    Returns:
        (module, config): the module in eval mode and the stored config (plain dict).
    """
    checkpoint = load_checkpoint(path)
    config = stored_config(checkpoint, path)
    # The schema forces pretrained/weights_path off: the weights are the checkpoint's.
    module = instantiate_stored(config["module"], str(path), "module", _partial_=True)
    module = module(run_config=config)
    missing, unexpected = module.load_state_dict(checkpoint["state_dict"], strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{path}: weights do not fit the stored config (missing {missing[:5]}, "
            f"unexpected {unexpected[:5]})"
        )
    module.eval()
    log.info("Loaded %s (epoch %s)", path, checkpoint.get("epoch"))
    return module, config
