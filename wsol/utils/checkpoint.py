"""Load wsol checkpoints safely (``weights_only=True``) and rebuild their module."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

log = logging.getLogger("wsol")

_BACKBONE_BUILDER = "wsol.models.build_backbone"


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint without unpickling arbitrary objects."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ckpt_path: checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - re-raised with the file name
        raise ValueError(f"{path}: not a loadable wsol checkpoint ({error})") from error


def stored_config(checkpoint: dict, path: str | Path = "checkpoint") -> dict:
    """The resolved run config that ``wsol-train`` stored in the checkpoint."""
    config = checkpoint.get("hyper_parameters", {}).get("run_config")
    if not config:
        raise ValueError(f"{path}: has no stored wsol config (was it written by wsol-train?)")
    return copy.deepcopy(config)


def _without_pretrained_download(node):
    """Backbones rebuilt from a checkpoint get their weights from it, never from a download."""
    if isinstance(node, dict):
        if str(node.get("_target_", "")).startswith(_BACKBONE_BUILDER):
            node = {**node, "pretrained": False, "weights_path": None}
        return {key: _without_pretrained_download(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_without_pretrained_download(value) for value in node]
    return node


def module_from_checkpoint(path: str | Path):
    """Rebuild the :class:`WSOLLitModule` of a checkpoint and load its weights.

    Returns:
        (module, config): the module in eval mode and the stored config (plain dict).
    """
    checkpoint = load_checkpoint(path)
    config = stored_config(checkpoint, path)
    module_cfg = OmegaConf.create(_without_pretrained_download(config["module"]))
    module = instantiate(module_cfg, _partial_=True)(run_config=config)
    missing, unexpected = module.load_state_dict(checkpoint["state_dict"], strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{path}: weights do not fit the stored config (missing {missing[:5]}, "
            f"unexpected {unexpected[:5]})"
        )
    module.eval()
    log.info("Loaded %s (epoch %s)", path, checkpoint.get("epoch"))
    return module, config
