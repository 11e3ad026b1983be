"""Validation accepts every shipped config: each option of each config group composes clean."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import CONFIG_DIR, compose_config
from wsol.configuration.validate import config_problems

# Options a group needs to compose (data roots without defaults).
NEEDS = {"data=wsoleval": ["data.metadata_root=/m", "data.data_root=/d"]}

OPTIONS = sorted(
    f"{group.name}={path.stem}"
    for group in Path(CONFIG_DIR).iterdir()
    if group.is_dir() and group.name not in ("hydra", "paths", "extras", "local")
    for path in group.glob("*.yaml")
)


@pytest.mark.parametrize("option", OPTIONS)
def test_every_config_option_validates(option, tmp_path):
    needs = NEEDS.get(option, [])
    if option == "data=folder":  # its class count comes from the converter's class_names.txt
        (tmp_path / "class_names.txt").write_text("cat\ndog\n")
        needs = [f"data.metadata_root={tmp_path}", f"data.data_root={tmp_path}"]
    cfg = compose_config("train", [option, *needs], tmp_path)
    assert config_problems(cfg) == []


@pytest.mark.parametrize("task", ["eval", "predict"])
def test_eval_and_predict_defaults_validate(task, tmp_path):
    assert config_problems(compose_config(task, [], tmp_path)) == []
