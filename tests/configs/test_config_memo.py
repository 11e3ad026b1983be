"""The suite's memo of Hydra's config reads (`tests.helpers.config_memo`) changes no composition."""

from __future__ import annotations

import os
import shutil

import pytest
from hydra import compose, initialize_config_dir
from hydra._internal.sources_registry import SourcesRegistry
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import MissingConfigException
from omegaconf import OmegaConf, open_dict

from tests.conftest import CONFIG_DIR, compose_config
from tests.helpers import config_memo

# The main file source, Hydra's own package configs, and plugin packages' configs (Optuna,
# submitit), with options from several groups and an experiment.
CASES = [
    ("train", []),
    ("eval", []),
    ("predict", []),
    ("train", ["experiment=cub_resnet50_acol", "hydra/launcher=slurm_multinode"]),
    ("train", ["hparams_search=synthetic_optuna", "method=has", "logger=csv"]),
]


def _yaml(config_name, overrides, tmp_path) -> str:
    cfg = compose_config(config_name, overrides, tmp_path)
    return OmegaConf.to_yaml(cfg)


def test_compositions_equal_fresh_reads(tmp_path):
    config_memo.install()  # as tests/conftest.py does; idempotent
    remembered = [_yaml(name, overrides, tmp_path) for name, overrides in CASES]
    again = [_yaml(name, overrides, tmp_path) for name, overrides in CASES]  # from the memo
    assert config_memo.files_read() >= 20  # Hydra's sources read through the memo
    with config_memo.disabled():
        fresh = [_yaml(name, overrides, tmp_path) for name, overrides in CASES]
    assert remembered == fresh and again == fresh
    assert "sweeper" in fresh[-1] and "submitit" in fresh[3]  # the plugin configs were read


def _compose_from(folder, overrides):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(folder), version_base="1.3"):
        return compose(config_name="train", overrides=overrides)


def test_an_edited_replaced_or_removed_file_is_read_again(tmp_path):
    config_memo.install()
    folder = tmp_path / "configs"
    shutil.copytree(CONFIG_DIR, folder)
    option = folder / "data" / "synthetic.yaml"
    assert "memo_probe" not in _compose_from(folder, [])["data"]
    option.write_text(option.read_text() + "\nmemo_probe: 7\n")
    assert _compose_from(folder, [])["data"]["memo_probe"] == 7  # edited
    before = option.stat()
    option.write_text(option.read_text().replace("memo_probe: 7", "memo_probe: 8"))
    os.utime(option, ns=(before.st_atime_ns, before.st_mtime_ns))  # as if in the same tick
    after = option.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )
    assert _compose_from(folder, [])["data"]["memo_probe"] == 8
    replacement = folder / "replacement.yaml"
    replacement.write_text(option.read_text().replace("memo_probe: 8", "memo_probe: 9"))
    replacement.replace(option)
    assert _compose_from(folder, [])["data"]["memo_probe"] == 9  # replaced by another file
    option.unlink()
    with pytest.raises(MissingConfigException, match="synthetic"):
        _compose_from(folder, [])
    GlobalHydra.instance().clear()


def test_a_caller_that_changes_what_it_read_does_not_change_the_next_read():
    config_memo.install()
    source = SourcesRegistry.instance().resolve("file")(provider="main", path=str(CONFIG_DIR))
    first = source.load_config("train.yaml")
    with open_dict(first.config):
        first.config.memo_probe = 1
    first.header["package"] = "elsewhere"
    second = source.load_config("train.yaml")
    assert "memo_probe" not in second.config and second.header.get("package") != "elsewhere"
    assert second.config == source.load_config("train.yaml").config
