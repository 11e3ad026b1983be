"""Shared fixtures: composing the project's configs the way the CLI does."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


def compose_config(
    config_name: str, overrides: list[str], tmp_path: Path, data_dir: Path | None = None
) -> DictConfig:
    """Compose ``configs/<config_name>.yaml`` with overrides, outputs under ``tmp_path``.

    Hydra's runtime values (``${hydra:...}``) resolve as in a real run.
    """
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(tmp_path / "run")
        cfg.hydra.runtime.cwd = str(tmp_path)
        cfg.hydra.job.num = 0
        cfg.paths.output_dir = str(tmp_path / "run")
        cfg.paths.log_dir = str(tmp_path / "logs")
        cfg.paths.data_dir = str(data_dir or tmp_path / "data")
    HydraConfig.instance().set_config(cfg)
    return cfg


@pytest.fixture
def make_config(tmp_path):
    """``make_config(name, overrides, data_dir=None)`` → composed DictConfig."""

    def _make(config_name: str, overrides: list[str] | None = None, data_dir: Path | None = None):
        return compose_config(config_name, overrides or [], tmp_path, data_dir)

    yield _make
    GlobalHydra.instance().clear()
