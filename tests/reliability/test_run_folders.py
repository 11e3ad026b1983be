"""A run owns its folder: created exclusively, never written again once finished, never beside a
checkpoint of a shared folder; a run_name is one folder name; a refused run leaves no folder."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import OmegaConf

from tests.conftest import compose_config
from tests.helpers.cli import run_cli
from tests.helpers.small_run import SMALL_RUN
from tests.helpers.trained_run import trained_run
from wsol.configuration.validate import FolderName, config_problems
from wsol.tasks import run_folder
from wsol.tasks.common import checkpoint_to_evaluate
from wsol.tasks.resume import changed_keys
from wsol.tasks.run_folder import MARKER, ClaimRunFolder, RunFolderError, claim


def hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(autouse=True)
def _forget_claims():
    """Folders claimed by a test are released after it (this process would keep them)."""
    yield
    for path in list(run_folder._HELD):
        run_folder.release(path)


def finished_run(root: Path, name: str) -> Path:
    run = root / "logs" / "train" / "runs" / name
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.ckpt").write_bytes(b"weights")
    (run / "metrics.json").write_text('{"val/maxboxaccv2": 50.0}\n')
    (run / MARKER).write_text("{}\n")
    return run


@pytest.mark.parametrize("name", ["abc", 12345, "lr=0.1,bs=8", "run_2024-01-01", "x" * 100])
def test_folder_names_accepted(name):
    assert FolderName().check(name) is None


@pytest.mark.parametrize(
    "name", ["../../x", "/tmp/x", "a/b", "..", ".hidden", "", "x" * 101, True, "-x", 1.5]
)
def test_folder_names_refused(name):
    assert "one folder name" in FolderName().check(name)


def test_a_number_is_a_run_name(make_config, tmp_path):
    cfg = make_config("train", ["run_name=12345"])
    assert not [p for p in config_problems(cfg) if p.startswith("run_name")]
    assert cfg.hydra.run.dir == f"{tmp_path}/logs/train/runs/12345"


@pytest.mark.slow
def test_a_run_name_that_escapes_is_refused_before_any_folder(tmp_path):
    result = run_cli("wsol-train", ["run_name=../../../escaped"], tmp_path, expect=1)
    assert "run_name: must be null or one folder name" in result.stderr
    assert not (tmp_path / "logs").exists() and not (tmp_path / "escaped").exists()


@pytest.mark.slow
def test_a_finished_run_is_never_written_again_whatever_names_it(tmp_path):
    done = finished_run(tmp_path, "done")
    before = hashes(done)
    for args in (["run_name=done"], ["run_name=done", "ckpt_path=last"]):
        result = run_cli("wsol-train", args, tmp_path, expect=1)
        assert f"run {done} is finished" in result.stderr, result.stderr[-2000:]
    assert hashes(done) == before and not (done / ".hydra").exists()


@pytest.mark.slow
def test_two_runs_of_one_name_cannot_share_a_folder(tmp_path):
    busy = tmp_path / "logs" / "train" / "runs" / "busy"
    claim(busy)  # a run of this process holds it
    (busy / "checkpoints").mkdir()
    (busy / "checkpoints" / "last.ckpt").write_bytes(b"weights")
    before = hashes(busy)
    result = run_cli("wsol-train", ["run_name=busy"], tmp_path, expect=1)
    assert f"run folder {busy} exists: another run has this name" in result.stderr
    result = run_cli("wsol-train", ["run_name=busy", "ckpt_path=last"], tmp_path, expect=1)
    assert f"run folder {busy} is in use by another run" in result.stderr
    assert hashes(busy) == before
    assert sorted(p.name for p in busy.parent.iterdir()) == ["busy"]


def test_claims_are_exclusive_within_and_across_names(tmp_path):
    first = claim(tmp_path / "runs" / "a")
    assert (first / MARKER).is_file()
    run_folder.release(first)
    with pytest.raises(RunFolderError, match="exists: another run has this name"):
        claim(first)
    claim(first, resume=True)  # an unfinished run of this name, resumed, held by nobody


def test_a_default_folder_that_exists_gets_a_suffix(tmp_path):
    taken = tmp_path / "runs" / "2026-01-01_00-00-00"
    taken.mkdir(parents=True)
    (taken / "train.log").write_text("another run\n")
    config = OmegaConf.create({"run_name": None, "hydra": {"run": {"dir": str(taken)}}})
    ClaimRunFolder().on_run_start(config)
    assert config.hydra.run.dir == f"{taken}_1" and (Path(f"{taken}_1") / MARKER).is_file()
    assert (taken / "train.log").read_text() == "another run\n"


def test_a_sweep_folder_is_claimed_exclusively(tmp_path):
    sweep = tmp_path / "multiruns" / "s"
    sweep.mkdir(parents=True)
    (sweep / "0").mkdir()
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}}})
    with pytest.raises(SystemExit):
        ClaimRunFolder().on_multirun_start(config)


def test_other_ranks_of_a_distributed_run_claim_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "1")
    cfg = OmegaConf.create({"paths": {"output_dir": str(tmp_path / "run")}, "ckpt_path": None})
    run_folder.claim_task_folder(cfg)
    assert not (tmp_path / "run").exists()


def test_the_best_checkpoint_must_lie_in_the_runs_own_folder(tmp_path):
    callback = ModelCheckpoint(dirpath=tmp_path / "copy" / "checkpoints", monitor="val/x")
    callback.best_model_path = str(tmp_path / "original" / "checkpoints" / "epoch_001.ckpt")
    trainer = SimpleNamespace(checkpoint_callbacks=[callback])
    with pytest.raises(ValueError, match="lies outside this run's folder"):
        checkpoint_to_evaluate(trainer, "best", tmp_path / "copy")
    callback.best_model_path = str(tmp_path / "copy" / "checkpoints" / "epoch_001.ckpt")
    assert checkpoint_to_evaluate(trainer, "best", tmp_path / "copy") == callback.best_model_path


def test_changed_keys_name_what_a_resume_may_not_change():
    stored = {
        "data_dir": "/old",
        "data": {"batch_size": 32, "num_workers": 0, "preparer": {"root": "/old/synthetic"}},
        "module": {"optimizer": {"lr": 0.006}},
    }
    moved = {
        "data_dir": "/new",
        "data": {"batch_size": 32, "num_workers": 4, "preparer": {"root": "/new/synthetic"}},
        "module": {"optimizer": {"lr": 0.006}},
    }
    assert changed_keys(stored, moved) == []  # data moved with the data dir; workers are safe
    moved["module"]["optimizer"]["lr"] = 0.1
    moved["data"]["batch_size"] = 8
    assert changed_keys(stored, moved) == [
        "data.batch_size: 32 -> 8",
        "module.optimizer.lr: 0.006 -> 0.1",
    ]


@pytest.mark.slow
def test_resuming_with_another_learning_rate_is_refused_and_leaves_no_folder(
    tmp_path_factory, tmp_path
):
    from wsol.tasks.train import train

    ckpt = trained_run(tmp_path_factory) / "checkpoints" / "last.ckpt"
    cfg = compose_config(
        "train", [*SMALL_RUN, f"ckpt_path={ckpt}", "module.optimizer.lr=0.5"], tmp_path
    )
    before = hashes(ckpt.parent.parent)
    with pytest.raises(ValueError, match=r"module.optimizer.lr: 0.006 -> 0.5"):
        train(cfg)
    assert not (tmp_path / "run").exists()
    assert hashes(ckpt.parent.parent) == before


@pytest.mark.slow
def test_a_checkpoint_in_a_shared_folder_starts_a_new_run_and_writes_nothing_there(
    tmp_path_factory, tmp_path
):
    shared = tmp_path / "models" / "checkpoints"
    shared.mkdir(parents=True)
    source = trained_run(tmp_path_factory) / "checkpoints" / "last.ckpt"
    shutil.copy(source, shared / "x.ckpt")
    (shared / "last.ckpt").write_bytes(b"someone else's")
    before = hashes(tmp_path / "models")
    result = run_cli(
        "wsol-train",
        [*SMALL_RUN, "trainer.max_epochs=3", f"ckpt_path={shared / 'x.ckpt'}", "run_name=ft"],
        tmp_path,
    )
    assert hashes(tmp_path / "models") == before, result.stderr[-2000:]
    run = tmp_path / "logs" / "train" / "runs" / "ft"
    assert (run / "metrics.json").is_file() and (run / "checkpoints" / "last.ckpt").is_file()
