"""Sweep summaries: runs read back from job folders, winners by the val metric, seed groups."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import pytest

from wsol.analysis.sweep import (
    best_index,
    common_overrides,
    group_rows,
    read_sweep,
    run_rows,
    varying_keys,
)

ROOT = Path(__file__).resolve().parents[2]


def _job(root: Path, job: str, overrides: list[str], metrics: dict | None, optimized=None):
    directory = root / job
    (directory / ".hydra").mkdir(parents=True)
    (directory / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    if optimized:
        (directory / ".hydra" / "config.yaml").write_text(f"optimized_metric: {optimized}\n")
    if metrics is not None:
        (directory / "metrics.json").write_text(json.dumps(metrics))


def _sweep(root: Path) -> Path:
    # 2 methods x 2 seeds; job 10 sorts after 2 by number; job 3 did not finish.
    values = {
        "0": ("cam", 0, 60.0, 50.0),
        "1": ("cam", 1, 64.0, 54.0),
        "2": ("has", 0, 70.0, 40.0),
        "10": ("has", 1, 66.0, 44.0),
    }
    for job, (method, seed, val, test) in values.items():
        metrics = {"val/maxboxaccv2": val, "test/maxboxaccv2": test, "test/pxap": None}
        _job(
            root,
            job,
            [f"method={method}", f"seed={seed}", "run_name=s"],
            metrics,
            "val/maxboxaccv2",
        )
    _job(root, "3", ["method=has", "seed=2", "run_name=s"], None, "val/maxboxaccv2")
    return root


def test_runs_are_read_in_job_order_with_their_overrides(tmp_path):
    runs = read_sweep(_sweep(tmp_path))
    assert [run.job for run in runs] == ["0", "1", "2", "3", "10"]
    assert runs[4].overrides == {"method": "has", "seed": "1", "run_name": "s"}
    assert runs[0].metrics == {"val/maxboxaccv2": 60.0, "test/maxboxaccv2": 50.0}
    assert runs[0].optimized_metric == "val/maxboxaccv2"
    assert not runs[3].finished and runs[2].finished
    assert varying_keys(runs) == ["method", "seed"]
    assert common_overrides(runs) == {"run_name": "s"}


def test_winner_is_the_best_val_run_not_the_best_test_run(tmp_path):
    runs = read_sweep(_sweep(tmp_path))
    header, rows = run_rows(runs, "val/maxboxaccv2", ("test/maxboxaccv2",))
    assert header == ["job", "method", "seed", "val/maxboxaccv2", "test/maxboxaccv2", "winner"]
    assert [row[-1] for row in rows] == ["", "", "*", "", ""]  # has s0: val 70 (test only 40)
    _, rows = run_rows(runs, "val/maxboxaccv2", ("test/maxboxaccv2",), mode="min")
    assert rows[0][-1] == "*"


def test_groups_average_over_seeds(tmp_path):
    runs = read_sweep(_sweep(tmp_path))
    header, rows = group_rows(runs, "val/maxboxaccv2", ("test/maxboxaccv2",))
    assert header == ["method", "runs", "val/maxboxaccv2", "test/maxboxaccv2", "winner"]
    # cam: 60, 64 → 62.0 ± 2.8 (sample std); has: 70, 66 and an unfinished run → 68.0 ± 2.8.
    assert rows == [
        ["cam", "2/2", "62.0 ± 2.8", "52.0 ± 2.8", ""],
        ["has", "2/3", "68.0 ± 2.8", "42.0 ± 2.8", "*"],
    ]


def test_best_index_skips_missing_values():
    assert best_index([float("nan"), 2.0, 2.0, 1.0]) == 1
    assert best_index([float("nan")]) is None
    with pytest.raises(ValueError, match="'best'"):
        best_index([1.0], mode="best")


def test_bad_folders_are_named(tmp_path):
    with pytest.raises(ValueError, match="no Hydra job directories"):
        read_sweep(tmp_path)
    _job(tmp_path, "0", ["method"], None)
    with pytest.raises(ValueError, match=r"overrides\.yaml: not key=value: 'method'"):
        read_sweep(tmp_path)


def test_script_writes_csv_and_markdown(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        "summarize_sweep", ROOT / "scripts" / "summarize_sweep.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    root = _sweep(tmp_path)
    assert script.main([str(root), "--columns", "test/maxboxaccv2"]) == 0
    with open(root / "summary.csv", encoding="utf-8") as handle:
        table = list(csv.reader(handle))
    assert table[0] == ["job", "method", "seed", "val/maxboxaccv2", "test/maxboxaccv2", "winner"]
    assert table[3] == ["2", "has", "0", "70.0", "40.0", "*"]
    assert table[4][3] == "nan"  # the unfinished run has no numbers
    markdown = (root / "summary.md").read_text()
    assert "5 runs (1 unfinished: 3)" in markdown and "`run_name=s`" in markdown
    assert "| has | 2/3 | 68.0 ± 2.8 | 42.0 ± 2.8 | * |" in markdown
    assert "| 2 | has | 0 | 70.00 | 40.00 | * |" in markdown
