"""A regular (non-editable) install carries the configs: setuptools' build of the packages puts
every file of the top-level configs/ (except the git-ignored local/) under wsol/configs, where
the installed package finds them from any working directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def yaml_files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*.yaml"))


def test_built_package_ships_the_configs_and_uses_them_from_anywhere(tmp_path):
    source = tmp_path / "checkout"
    source.mkdir()
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    for name in ("wsol", "configs"):
        shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    (source / "configs/local/default.yaml").write_text("seed: 1\n")  # a user's own, not shipped
    lib = tmp_path / "lib"
    build = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_py", "-d", str(lib)],
        cwd=source,
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    assert "would be ignored" not in build.stderr  # every config group is declared
    expected = [f for f in yaml_files(REPO / "configs") if not f.startswith("local/")]
    assert yaml_files(lib / "wsol/configs") == expected

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WSOL_")}
    env["PYTHONPATH"] = str(lib)
    code = (
        "import wsol; from wsol.configuration.compose import CONFIG_DIR, compose_config; "
        "cfg = compose_config('train'); paths = cfg.paths; "
        "print(wsol.__file__, CONFIG_DIR, paths.data_dir, paths.log_dir)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=elsewhere, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    module, config_dir, data_dir, log_dir = result.stdout.split()
    assert Path(module).is_relative_to(lib)
    assert Path(config_dir) == lib / "wsol/configs"
    # Generated data and run outputs go under the working directory, never the package.
    assert Path(data_dir) == elsewhere / "data" and Path(log_dir) == elsewhere / "logs"


def test_config_dir_override_must_hold_the_configs(tmp_path):
    env = {**os.environ, "WSOL_CONFIG_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", "import wsol.configuration.compose"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert f"WSOL_CONFIG_DIR={tmp_path}: no train.yaml" in result.stderr
