"""Named wsol-train runs: reuse of finished runs, clear errors of failed ones."""

from __future__ import annotations

import json

import pytest

from wsol.analysis.runs import run_dir, train_run


def test_a_finished_run_is_reused_without_training(tmp_path):
    directory = run_dir(tmp_path, "done")
    directory.mkdir(parents=True)
    (directory / "metrics.json").write_text(json.dumps({"test/maxboxaccv2": 1.0}))
    assert train_run("done", ["no_such_key=1"], tmp_path) == directory
    assert not (tmp_path / "train" / "done.out").exists()


@pytest.mark.slow
def test_a_failed_run_names_its_output_file(tmp_path):
    with pytest.raises(RuntimeError, match=r"bad: wsol-train failed .*bad\.out"):
        train_run("bad", ["no_such_key=1"], tmp_path)
    assert "no_such_key" in (tmp_path / "train" / "bad.out").read_text()
