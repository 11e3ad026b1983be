"""Hyper-parameter search through the CLI: an Optuna sweep selects on the validation metric the
task returns, and a sweep refuses to optimize a test metric."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.helpers.cli import run_cli
from tests.helpers.small_run import SMALL_RUN

pytestmark = pytest.mark.slow

pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="optional extra [optuna]")


def test_optuna_sweep_maximizes_the_val_metric(tmp_path):
    overrides = [
        *SMALL_RUN,
        "trainer.max_epochs=1",
        "hparams_search=synthetic_optuna",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.sampler.n_startup_trials=2",
        "run_name=optuna",
        "logger=csv",
    ]
    run_cli("wsol-train", overrides, tmp_path)
    sweep = tmp_path / "logs" / "train" / "multiruns" / "optuna"
    values = [json.loads((sweep / j / "metrics.json").read_text()) for j in ("0", "1")]
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert results["best_value"] == max(v["val/maxboxaccv2"] for v in values)
    assert set(results["best_params"]) == {"module.optimizer.lr", "module.optimizer.weight_decay"}


def test_a_test_metric_cannot_be_optimized(tmp_path):
    result = run_cli(
        "wsol-train", [*SMALL_RUN, "optimized_metric=test/maxboxaccv2"], tmp_path, expect=None
    )
    assert result.returncode != 0
    assert "never on test" in result.stderr + result.stdout
