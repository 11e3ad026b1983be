"""Options are checked before any work: finite numbers only, a rule for every numeric option,
combinations that cannot give a meaningful result, and every job of a multirun."""

from __future__ import annotations

import pytest

from tests.helpers.cli import run_cli
from wsol.configuration.validate import config_problems


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["module.optimizer.lr=nan"], "module.optimizer.lr: must be a finite number > 0, got nan"),
        (["eval.cam_curve_interval=nan"], "eval.cam_curve_interval: must be a number in (0, 1)"),
        (["module.optimizer.lr=inf"], "module.optimizer.lr: must be a finite number > 0, got inf"),
        (["data.preparer.hue_noise=nan"], "data.preparer.hue_noise: must be a finite number"),
        (["data.mean=[0.5,0.5,2.0]"], "data.mean: must be a non-empty list, each item a number"),
        (["data.std=[0.2,0.0,0.2]"], "data.std: must be a non-empty list, each item a number > 0"),
        (["module.optimizer.weight_decay=-0.1"], "module.optimizer.weight_decay: must be a"),
        (["module=sgd_step", "module.optimizer.momentum=1.5"], "module.optimizer.momentum"),
        (["module=sgd_step", "module.scheduler.gamma=0"], "module.scheduler.gamma"),
        (["data.cache_memory_mb=-1"], "data.cache_memory_mb: must be a number >= 0, got -1"),
        (["data.cache_train_images=maybe"], "data.cache_train_images: expected bool | None"),
        (["data.preparer.image_size=2"], "data.preparer.image_size: must be an integer >= 8"),
        (["trainer.max_epochs=0"], "trainer.max_epochs: 0 with train=true"),
        (["+trainer.max_steps=0"], "trainer.max_steps: 0 with train=true"),
        (["eval_checkpoint=best", "callbacks=none"], "eval_checkpoint: 'best' needs a checkpoint"),
        (["optimized_metric=val/maxboxacc_v3"], "optimized_metric: must be one of the validation"),
        (["optimized_metric=test/pxap"], "never on test"),
    ],
)
def test_refused_up_front(make_config, overrides, expected):
    problems = config_problems(make_config("train", overrides))
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["eval_checkpoint=best"],
        ["train=false", "trainer.max_epochs=0"],
        ["optimized_metric=val/pxap"],
        ["optimized_metric=val/maxboxaccv2_iou50"],
        ["module=sgd_step"],
        ["data.cache_train_images=false", "data.cache_memory_mb=0"],
    ],
)
def test_meaningful_combinations_pass(make_config, overrides):
    assert config_problems(make_config("train", overrides)) == []


@pytest.mark.slow
def test_a_multirun_validates_every_job_before_the_first_starts(tmp_path):
    args = ["-m", "data.batch_size=8,0", "seed=1,2", "run_name=sweep"]
    result = run_cli("wsol-train", args, tmp_path, expect=1)
    expected = "job data.batch_size=0 seed={} run_name=sweep: data.batch_size: must be an integer"
    assert expected.format(1) in result.stderr and expected.format(2) in result.stderr
    assert not (tmp_path / "logs").exists()  # no job ran, no sweep folder


@pytest.mark.parametrize("backbone", ["vgg16", "vit_b_16"])
def test_a_block_only_some_options_carry_is_named_with_where_it_lives(make_config, backbone):
    """An option that reads a block of another group's options (here method=spg reads the
    backbone's `spg` block) on an option without it: one problem naming the block, the keys
    that read it and the config files that define it, instead of an interpolation error
    from inside the run."""
    problems = config_problems(make_config("train", ["method=spg", f"backbone={backbone}"]))
    blocks = [p for p in problems if p.startswith("spg: not in the composed config")]
    assert len(blocks) == 1, problems
    assert "method.b1_at (${spg.b1_at})" in blocks[0]
    assert "module.method.b1_at" not in blocks[0]  # the same reference, seen once
    assert "backbone/vgg16_spg.yaml" in blocks[0] and "backbone/resnet50.yaml" in blocks[0]
    assert f"backbone/{backbone}.yaml" not in blocks[0]
    assert config_problems(make_config("train", ["method=spg", "backbone=tiny"])) == []
