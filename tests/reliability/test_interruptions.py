"""Interrupted runs: exit 128 + signal, a resumable last.ckpt, exact resume, finished runs kept."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from omegaconf import OmegaConf, open_dict

from tests.conftest import compose_config
from tests.helpers.cli import run_script
from tests.helpers.small_run import SMALL_RUN
from tests.helpers.trained_run import trained_run
from wsol.checkpoints.load import load_checkpoint
from wsol.tasks.interrupt import RunInterrupted

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def signal_at(epoch: int, batch: int, signum: int) -> list[str]:
    return [
        "+callbacks.kill._target_=tests.helpers.interrupt.SignalAt",
        f"+callbacks.kill.epoch={epoch}",
        f"+callbacks.kill.batch={batch}",
        f"+callbacks.kill.signum={signum}",
    ]


def train_in_process(tmp_path: Path, overrides: list[str], name: str) -> Path:
    """Train in ``<tmp_path>/logs/train/runs/<name>``; returns the run folder."""
    from wsol.tasks.train import train

    cfg = compose_config("train", [*SMALL_RUN, *overrides], tmp_path, tmp_path / "data")
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / "logs" / "train" / "runs" / name)
    train(cfg)
    return Path(cfg.paths.output_dir)


def wsol_train(tmp_path: Path, args: list[str]) -> subprocess.CompletedProcess:
    """``wsol-train`` in a process of its own with data and logs in ``tmp_path`` (tests
    importable)."""
    env = {
        **os.environ,
        "WSOL_DATA_DIR": str(tmp_path / "data"),
        "WSOL_LOG_DIR": str(tmp_path / "logs"),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return run_script("wsol-train", [*SMALL_RUN, *args], tmp_path, env)


def metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_sigterm_exits_143_and_an_explicit_resume_reproduces_the_run(tmp_path, tmp_path_factory):
    straight = trained_run(tmp_path_factory, ("trainer.max_epochs=3",))
    result = wsol_train(
        tmp_path, ["trainer.max_epochs=3", "run_name=interrupted", *signal_at(1, 1, 15)]
    )
    output = result.stdout + result.stderr
    assert result.returncode == 143, output[-3000:]
    assert "SIGTERM" in output
    interrupted = tmp_path / "logs" / "train" / "runs" / "interrupted"
    last = interrupted / "checkpoints" / "last.ckpt"
    assert load_checkpoint(last)["epoch"] == 0  # the end of the last whole epoch
    assert not (interrupted / "metrics.json").exists()
    resumed = train_in_process(tmp_path, ["trainer.max_epochs=3", f"ckpt_path={last}"], "r")
    assert resumed == interrupted
    assert metrics(resumed) == metrics(straight)


def test_ckpt_path_last_resumes_the_unfinished_run_and_leaves_the_finished_one(tmp_path):
    finished = train_in_process(tmp_path, ["trainer.max_epochs=1"], "finished")
    before = hashes(finished)
    with pytest.raises(RunInterrupted) as error:
        train_in_process(tmp_path, signal_at(1, 0, signal.SIGINT), "interrupted")
    assert error.value.exit_code == 130
    interrupted = tmp_path / "logs" / "train" / "runs" / "interrupted"
    assert (interrupted / "checkpoints" / "last.ckpt").is_file()

    result = wsol_train(tmp_path, ["ckpt_path=last"])
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    runs = tmp_path / "logs" / "train" / "runs"
    assert sorted(p.name for p in runs.iterdir()) == ["finished", "interrupted"]  # no stray
    assert (interrupted / "metrics.json").is_file()
    assert "ckpt_path=last resumes" in (interrupted / "train.log").read_text()
    assert list((interrupted / ".hydra").glob("resume-*/overrides.yaml"))
    assert hashes(finished) == before


def test_sigterm_in_the_first_epoch_saves_a_resumable_checkpoint(tmp_path):
    with pytest.raises(RunInterrupted) as error:
        train_in_process(tmp_path, signal_at(0, 0, signal.SIGTERM), "early")
    assert error.value.exit_code == 143
    last = tmp_path / "logs" / "train" / "runs" / "early" / "checkpoints" / "last.ckpt"
    assert load_checkpoint(last)["global_step"] == 1
    resumed = train_in_process(tmp_path, [f"ckpt_path={last}"], "again")
    assert resumed == last.parent.parent and "test/maxboxaccv2" in metrics(resumed)


@pytest.mark.parametrize("under_slurm", [True, False])
def test_slurm_requeue_is_configured_only_under_slurm(monkeypatch, under_slurm):
    from lightning.pytorch.plugins.environments import SLURMEnvironment

    from wsol.tasks.common import slurm_plugins

    for name in ("SLURM_NTASKS", "SLURM_JOB_NAME", "SLURM_JOB_ID"):
        monkeypatch.delenv(name, raising=False)
    if under_slurm:
        monkeypatch.setenv("SLURM_NTASKS", "1")
        monkeypatch.setenv("SLURM_JOB_NAME", "wsol")
        monkeypatch.setenv("SLURM_JOB_ID", "7")
    cfg = OmegaConf.create({"slurm": {"auto_requeue": True, "requeue_signal": "SIGUSR2"}})
    plugins = slurm_plugins(cfg)
    if not under_slurm:
        assert plugins == []
        return
    (environment,) = plugins
    assert isinstance(environment, SLURMEnvironment) and environment.auto_requeue
    assert environment.requeue_signal == signal.SIGUSR2


def test_ckpt_path_last_with_a_finished_run_name_writes_nothing_into_it(tmp_path):
    done = tmp_path / "logs" / "train" / "runs" / "done"
    (done / "checkpoints").mkdir(parents=True)
    (done / "checkpoints" / "last.ckpt").write_bytes(b"weights")
    (done / "metrics.json").write_text("{}\n")
    before = hashes(done)
    result = wsol_train(tmp_path, ["ckpt_path=last", "run_name=done"])
    assert result.returncode == 1
    assert f"run {done} is finished" in result.stderr
    assert hashes(done) == before and not (done / ".hydra").exists()
