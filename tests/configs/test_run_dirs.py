"""Run and sweep directories: a timestamp unless run_name is set, and resolvable by a multirun
before Hydra has set its config (where ``${hydra:...}`` resolvers fail)."""

from __future__ import annotations

import re

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig

from tests.conftest import CONFIG_DIR
from wsol.configuration.resolvers import default_if_null

TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}$")


@pytest.mark.parametrize("name", ["train", "eval", "predict"])
def test_run_directory_is_a_timestamp_unless_named(make_config, tmp_path, name):
    cfg = make_config(name)
    assert TIMESTAMP.search(cfg.hydra.run.dir), cfg.hydra.run.dir
    assert TIMESTAMP.search(cfg.hydra.sweep.dir), cfg.hydra.sweep.dir
    named = make_config(name, ["run_name=abc"])
    assert named.hydra.run.dir == f"{tmp_path}/logs/{name}/runs/abc"
    assert named.hydra.sweep.dir == f"{tmp_path}/logs/{name}/multiruns/abc"


def test_sweep_directory_resolves_before_hydra_sets_its_config(tmp_path, monkeypatch):
    # What a multirun does: compose, then read hydra.sweep.dir with no HydraConfig set.
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WSOL_LOG_DIR", raising=False)
    GlobalHydra.instance().clear()
    HydraConfig.instance().cfg = None
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            cfg = compose("train", ["run_name=sweep"], return_hydra_config=True)
        assert not HydraConfig.initialized()
        assert cfg.hydra.sweep.dir == f"{tmp_path}/logs/train/multiruns/sweep"
    finally:
        GlobalHydra.instance().clear()


def test_default_if_null():
    assert default_if_null(None, "d") == "d" and default_if_null("", "d") == "d"
    assert default_if_null("run", "d") == "run" and default_if_null(0, "d") == 0
