"""Compose the project's Hydra configs outside a Hydra main (scripts, notebooks, tests)."""

from __future__ import annotations

import os
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from wsol.configuration.resolvers import register_resolvers


def find_config_dir() -> str:
    """The folder of ``train.yaml``, ``eval.yaml``, ``predict.yaml`` and the config groups.

    In order: ``WSOL_CONFIG_DIR``; ``wsol/configs`` inside an installed package (a wheel
    carries the repository's ``configs/`` there, see setup.py); the repository's top-level
    ``configs/`` (a clone on ``PYTHONPATH`` or an editable install).
    """
    if os.environ.get("WSOL_CONFIG_DIR"):
        path = Path(os.environ["WSOL_CONFIG_DIR"]).expanduser().absolute()
        if not (path / "train.yaml").is_file():
            raise FileNotFoundError(f"WSOL_CONFIG_DIR={path}: no train.yaml there")
        return str(path)
    package = Path(__file__).resolve().parents[1]
    for path in (package / "configs", package.parent / "configs"):
        if (path / "train.yaml").is_file():
            return str(path)
    raise FileNotFoundError(
        f"no wsol configs in {package / 'configs'} (installed package) or "
        f"{package.parent / 'configs'} (clone); reinstall wsol or set WSOL_CONFIG_DIR"
    )


CONFIG_DIR = find_config_dir()


def compose_config(
    config_name: str,
    overrides: list[str] | None = None,
    output_dir: str | os.PathLike | None = None,
    cwd: str | os.PathLike | None = None,
) -> DictConfig:
    """``configs/<config_name>.yaml`` with overrides, resolvable as in a real run.

    Hydra's runtime values (``${hydra:runtime.cwd}``, the run directory) are set as a run
    would set them, so ``paths`` and every interpolation resolve.

    Args:
        config_name: ``train``, ``eval`` or ``predict``.
        overrides: command-line style overrides (``data.batch_size=8``).
        output_dir: the run directory (default ``<cwd>/outputs/<config_name>``).
        cwd: the working directory the paths are relative to (default: the current one).
    """
    register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=overrides or [], return_hydra_config=True)
    cwd = Path(cwd or os.getcwd()).absolute()
    output_dir = Path(output_dir or cwd / "outputs" / config_name).absolute()
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.hydra.runtime.cwd = str(cwd)
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    return cfg
