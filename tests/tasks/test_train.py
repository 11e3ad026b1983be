"""Training end to end: determinism, resume, train→eval parity, model selection."""

from __future__ import annotations

import json
import signal

import pytest
import torch

from tests.helpers.trained_run import trained_run
from wsol.checkpoints.load import load_checkpoint
from wsol.tasks.interrupt import RunInterrupted

pytestmark = pytest.mark.slow


def weights(path):
    return load_checkpoint(path)["state_dict"]


def shared(tmp_path_factory, overrides: tuple[str, ...] = ()):
    """(metrics, run folder) of the test run's shared training with ``overrides``."""
    run_dir = trained_run(tmp_path_factory, overrides)
    return json.loads((run_dir / "metrics.json").read_text()), run_dir


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_seeded_runs_are_identical(run, tmp_path_factory):
    first, first_dir = shared(tmp_path_factory)  # the default seed, 42, maybe another process
    second, second_dir = run("train", ["seed=42"], name="b")
    assert first == second
    assert {
        "val/maxboxaccv2",
        "test/maxboxaccv2",
        "test/maxboxacc",
        "test/pxap",
        "test/top1_loc",
        "test/gt_known_loc",
        "test/top1_acc",
    } <= first.keys()
    assert_same_weights(
        weights(first_dir / "checkpoints/last.ckpt"), weights(second_dir / "checkpoints/last.ckpt")
    )
    other, _ = run("train", ["seed=8"], name="c")
    assert other != first


def test_resume_continues_the_same_run(run, tmp_path, tmp_path_factory):
    straight, straight_dir = shared(tmp_path_factory, ("trainer.max_epochs=3",))
    assert load_checkpoint(straight_dir / "checkpoints/last.ckpt")["epoch"] == 2
    stop = [  # Ctrl+C after the first batch of the second epoch
        "+callbacks.stop._target_=tests.helpers.interrupt.SignalAt",
        "+callbacks.stop.epoch=1",
        "+callbacks.stop.batch=0",
        f"+callbacks.stop.signum={int(signal.SIGINT)}",
    ]
    with pytest.raises(RunInterrupted):
        run("train", ["trainer.max_epochs=3", *stop], name="interrupted")
    interrupted_dir = tmp_path / "logs" / "train" / "runs" / "interrupted"
    assert load_checkpoint(interrupted_dir / "checkpoints/last.ckpt")["epoch"] == 0
    resumed, resumed_dir = run("train", ["trainer.max_epochs=3", "ckpt_path=last"], name="resumed")
    assert resumed_dir == interrupted_dir  # the interrupted run's own folder continues
    assert load_checkpoint(resumed_dir / "checkpoints/last.ckpt")["epoch"] == 2
    assert resumed == straight
    assert_same_weights(
        weights(straight_dir / "checkpoints/last.ckpt"),
        weights(resumed_dir / "checkpoints/last.ckpt"),
    )


def test_resume_without_checkpoint_is_a_clear_error(run):
    with pytest.raises(FileNotFoundError, match="no last.ckpt"):
        run("train", ["ckpt_path=last"], name="nothing")


def test_eval_reproduces_the_test_numbers_of_training(run, tmp_path_factory):
    trained, run_dir = shared(tmp_path_factory)
    evaluated, _ = run("eval", [f"ckpt_path={run_dir / 'checkpoints/last.ckpt'}"], name="ev")
    test_keys = {k for k in trained if k.startswith("test/")}
    assert test_keys and {k: trained[k] for k in test_keys} == {k: evaluated[k] for k in test_keys}
    # The CAM threshold of the loc metrics is the one chosen on validation, not on test.
    assert evaluated["test/loc_threshold"] == trained["val/loc_threshold"]


def test_eval_on_another_split_prefixes_its_keys(run, tmp_path_factory):
    _, run_dir = shared(tmp_path_factory)
    evaluated, _ = run(
        "eval", [f"ckpt_path={run_dir / 'checkpoints/last.ckpt'}", "split=val"], name="ev"
    )
    assert "val/maxboxaccv2" in evaluated and not any(k.startswith("test/") for k in evaluated)


def test_best_checkpoint_selection(run):
    metrics, run_dir = run("train", ["trainer.max_epochs=3", "eval_checkpoint=best"], name="b")
    best = [p for p in (run_dir / "checkpoints").glob("epoch_*.ckpt")]
    assert len(best) == 1
    history = load_checkpoint(best[0])["callbacks"]
    scores = [v["best_model_score"] for k, v in history.items() if "ModelCheckpoint" in k]
    assert metrics["val/maxboxaccv2"] == pytest.approx(float(scores[0]), abs=1e-4)


def test_fast_dev_run(run):
    metrics, _ = run("train", ["debug=fdr"], name="fdr")
    assert "test/maxboxaccv2" in metrics


def test_acol_trains_and_evaluates(tmp_path_factory):
    metrics, _ = shared(tmp_path_factory, ("method=acol",))
    assert 0 <= metrics["test/maxboxaccv2"] <= 100 and "train/loss_b" not in metrics
