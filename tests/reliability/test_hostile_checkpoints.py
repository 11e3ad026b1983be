"""A checkpoint whose stored config names code is refused before anything is built.

A real small checkpoint gets a payload (open/write a file, start a process, wsol's own writers
and weight downloader; each also as a ``_partial_``) deep in each config group and in place of
the nodes a checkpoint builds; wsol-eval, wsol-predict and a resume must refuse it with the key
path and the target, and no file may appear, no process start and nothing be downloaded.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import compose_config
from tests.helpers.cli import run_cli
from tests.helpers.trained_run import trained_run
from tests.reliability.hostile import (
    PLACES,
    hostile_checkpoint,
    no_side_effect,
    payloads,
    refuse_downloads,
    refused_key,
)
from wsol.checkpoints.load import module_from_checkpoint
from wsol.checkpoints.safe_instantiate import UntrustedConfigError, check_stored_config

pytestmark = pytest.mark.slow

PAYLOADS = list(payloads(Path("marker")))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return trained_run(tmp_path_factory) / "checkpoints" / "last.ckpt"


@pytest.fixture
def no_processes(monkeypatch):
    """Fail the test if anything tries to start a process or run a shell command."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"a process was started: {args!r}")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
    monkeypatch.setattr(os, "system", refuse)
    monkeypatch.setattr(os, "posix_spawn", refuse)
    refuse_downloads(monkeypatch)


def make(checkpoint: Path, tmp_path: Path, name: str, where: str, partial: bool):
    marker = tmp_path / "marker"
    node = payloads(marker)[name]
    path = hostile_checkpoint(checkpoint, tmp_path / "hostile.ckpt", where, node, partial)
    return path, marker, refused_key(where, node)


@pytest.mark.parametrize("partial", [False, True], ids=["call", "partial"])
@pytest.mark.parametrize("where", PLACES)
@pytest.mark.parametrize("name", PAYLOADS)
def test_rebuilding_refuses_every_payload_everywhere(
    checkpoint, tmp_path, no_processes, name, where, partial
):
    path, marker, key = make(checkpoint, tmp_path, name, where, partial)
    with pytest.raises(UntrustedConfigError) as error:
        module_from_checkpoint(path)
    assert key in str(error.value) and str(path) in str(error.value)
    assert no_side_effect(marker)


def run_task(task: str, ckpt: Path, tmp_path: Path, image: Path | None = None):
    overrides = [f"ckpt_path={ckpt}", "extras.print_config=false"]
    if task == "predict":
        overrides += [f"input={image}", f"output={tmp_path / 'out'}"]
        from wsol.tasks.predict import predict as run
    elif task == "eval":
        from wsol.tasks.evaluate import evaluate as run
    else:
        from tests.helpers.small_run import SMALL_RUN
        from wsol.tasks.train import train as run

        overrides = [*SMALL_RUN, *overrides]
    run(compose_config(task, overrides, tmp_path))


@pytest.fixture
def image(tmp_path) -> Path:
    path = tmp_path / "image.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(path)
    return path


@pytest.mark.parametrize("partial", [False, True], ids=["call", "partial"])
@pytest.mark.parametrize("name", PAYLOADS)
@pytest.mark.parametrize("task", ["eval", "predict", "train"])
def test_tasks_refuse_hostile_checkpoints(
    checkpoint, tmp_path, image, no_processes, task, name, partial
):
    where = "data.preparer.hostile" if task == "eval" else "module.method.backbone.hostile"
    path, marker, key = make(checkpoint, tmp_path, name, where, partial)
    with pytest.raises(UntrustedConfigError, match=re.escape(key)):
        run_task(task, path, tmp_path, image)
    assert no_side_effect(marker)


@pytest.mark.parametrize(
    ("command", "name", "where"),
    [
        ("wsol-eval", "builtins.open", "data.preparer.hostile"),
        ("wsol-predict", "subprocess.run", "module.method.backbone.hostile"),
        ("wsol-train", "os.system", "module.optimizer.hostile"),
    ],
)
def test_cli_refuses_hostile_checkpoints(checkpoint, tmp_path, image, command, name, where):
    path, marker, key = make(checkpoint, tmp_path, name, where, partial=False)
    args = [f"ckpt_path={path}", "extras.print_config=false"]
    if command == "wsol-predict":
        args += [f"input={image}", f"output={tmp_path / 'out'}"]
    result = run_cli(command, args, tmp_path, expect=1)
    output = result.stdout + result.stderr
    assert key in output and name in output
    assert no_side_effect(marker)


def test_the_configs_own_targets_are_allowed(checkpoint):
    module, stored = module_from_checkpoint(checkpoint)
    check_stored_config(stored, "checkpoint")
    assert module.method.num_classes == stored["data"]["num_classes"]


@pytest.mark.parametrize(
    "target",
    [
        "wsol.cli.train",
        "wsol.tasks.train.train",
        "wsol.tasks.run_outputs.write_metrics",
        "wsol.metrics.warmup.compile_kernels",
        "wsol.tasks.compile_ahead.start",
        "wsol.models._private",
        "wsol.models.build_backbone.__globals__",
        "wsol.data.datamodule.Path",
        "torch.load",
        "torch.optim.AdamW.__init__",
        "lightning.pytorch.Trainer",
    ],
)
def test_targets_outside_the_allowed_set_are_refused(target):
    with pytest.raises(UntrustedConfigError, match=f"a.b._target_ = '{target}'"):
        check_stored_config({"a": {"b": {"_target_": target}}}, "ckpt")


def _with_preparer_root(checkpoint: Path, out: Path, root: str) -> Path:
    import torch

    stored = torch.load(checkpoint, map_location="cpu", weights_only=True)
    stored["hyper_parameters"]["run_config"]["data"]["preparer"]["root"] = root
    torch.save(stored, out)
    return out


def test_eval_refuses_a_stored_data_folder_outside_the_data_dirs(checkpoint, tmp_path):
    elsewhere = tmp_path / "elsewhere" / "synthetic"
    path = _with_preparer_root(checkpoint, tmp_path / "moved.ckpt", str(elsewhere))
    with pytest.raises(UntrustedConfigError, match="data.preparer.root = .* lies outside"):
        run_task("eval", path, tmp_path)
    assert not (tmp_path / "elsewhere").exists()


def test_eval_rebuilds_the_stored_data_under_the_current_data_dir(checkpoint, tmp_path):
    # The checkpoint was trained with another data dir: its data are generated under this one.
    run_task("eval", checkpoint, tmp_path)
    assert (tmp_path / "data" / "synthetic").is_dir()
    assert (tmp_path / "run" / "metrics.json").is_file()
