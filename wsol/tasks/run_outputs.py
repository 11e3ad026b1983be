"""Run bookkeeping shared by the tasks: start-of-run extras, metrics.json, resolved config."""

from __future__ import annotations

import json
import logging
import math
import warnings
from pathlib import Path

from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from wsol.configuration.validate import validate_config
from wsol.metrics.keys import result_keys

log = logging.getLogger("wsol")


def apply_extras(cfg: DictConfig) -> None:
    """Config validation (:mod:`wsol.configuration.validate`), then the warnings filter, tag check
    and config printing, as configured under ``extras``."""
    validate_config(cfg)
    extras = cfg.get("extras") or {}
    if extras.get("ignore_warnings"):
        warnings.filterwarnings("ignore")
    if extras.get("enforce_tags") and not cfg.get("tags"):
        raise ValueError("extras.enforce_tags is set but `tags` is empty: add tags=[...]")
    if extras.get("print_config"):
        print_config(cfg)


@rank_zero_only
def print_config(cfg: DictConfig) -> None:
    """Print the composed config, groups first, as YAML."""
    log.info("Composed config:\n%s", OmegaConf.to_yaml(cfg, resolve=False))


@rank_zero_only
def save_resolved_config(cfg: DictConfig, output_dir: str | Path, overwrite: bool = True) -> Path:
    """Write the fully resolved config next to Hydra's own (unresolved) .hydra/config.yaml.

    ``overwrite=False`` (a resumed run) keeps the run's first one: the resume's own config is
    in ``.hydra/resume-<name>/``, and may differ only in keys that are safe to change.
    """
    path = Path(output_dir) / "config_resolved.yaml"
    if path.is_file() and not overwrite:
        log.info("Resumed run: %s kept as it was written", path)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(OmegaConf.to_yaml(cfg, resolve=True))
    return path


def to_float_dict(metrics: dict) -> dict[str, float]:
    """Plain floats (NaN → None for JSON) from logged metric values."""
    out = {}
    for key, value in metrics.items():
        value = float(value)
        out[key] = None if math.isnan(value) else value
    return out


def logged_and_exact(results: list[dict], stage: str, exact: dict | None) -> dict[str, float]:
    """Logged metrics of a validate/test call, with the metric results themselves on top.

    Lightning logs float32; the protocol's numbers and thresholds are kept at full precision.
    """
    merged = {key: float(value) for key, value in (results[0] if results else {}).items()}
    merged.update(result_keys(stage, exact or {}))
    return merged


@rank_zero_only
def write_metrics(metrics: dict[str, float], output_dir: str | Path) -> Path:
    """Write ``metrics.json`` (sorted keys ``val/...``, ``test/...``) into the run directory."""
    path = Path(output_dir) / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    log.info("Metrics written to %s", path)
    return path


@rank_zero_only
def write_protocol(protocol: dict, output_dir: str | Path) -> Path:
    """Write ``protocol.json`` (the evaluation protocol the numbers of ``metrics.json`` were
    computed with, `WSOLLitModule.protocol`) into the run directory."""
    path = Path(output_dir) / "protocol.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(protocol, indent=2) + "\n")
    return path
