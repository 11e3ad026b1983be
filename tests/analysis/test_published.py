"""--published mode of scripts/summarize_sweep.py: each run next to the number it reproduces."""

from __future__ import annotations

import json
import math

import yaml

from scripts.summarize_sweep import main
from wsol.analysis.published import compare_run, find_runs


def write_run(directory, config, overrides, metrics=None):
    (directory / ".hydra").mkdir(parents=True)
    (directory / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    (directory / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if metrics is not None:
        (directory / "metrics.json").write_text(json.dumps(metrics))
    return directory


def test_rows_take_the_experiment_or_the_reference_row(tmp_path, capsys):
    base = {"published": {"metric": "test/maxboxaccv2", "value": 63.7, "data_set": "cub"}}
    cam = write_run(
        tmp_path / "sweep" / "0",
        {**base, "backbone": {"name": "vgg16"}},
        ["experiment=cub_vgg16_cam", "data.data_root=/x"],
        {"test/maxboxaccv2": 60.2},
    )
    fsl = write_run(
        tmp_path / "sweep" / "1",
        {
            **base,
            "backbone": {"name": "resnet50"},
            "reference_row": {"name": "FSL", "values": {"cub": {"resnet50": 82.4}}},
        },
        ["experiment=cub_resnet50_cam", "method=fsl"],
        {"test/maxboxaccv2": 80.0},
    )
    unfinished = write_run(
        tmp_path / "other",
        {
            "published": {"metric": "test/pxap", "data_set": "openimages"},
            "reference_row": {"name": "centre", "values": {"openimages": 45.8}},
        },
        ["experiment=openimages_vgg16_cam", "method=center"],
    )
    assert find_runs([tmp_path / "sweep", unfinished]) == [unfinished, cam, fsl]
    row = compare_run(cam)
    assert (row.setup, row.published, row.measured) == ("cub_vgg16_cam", 63.7, 60.2)
    assert row.difference == 60.2 - 63.7
    row = compare_run(fsl)
    assert row.setup == "cub_resnet50_cam method=fsl (FSL)" and row.published == 82.4
    row = compare_run(unfinished)
    assert row.published == 45.8 and math.isnan(row.measured) and row.metric == "test/pxap"

    out = tmp_path / "table.md"
    argv = ["--published", str(tmp_path / "sweep"), str(unfinished), "--output", str(out)]
    assert main(argv) == 0
    text = out.read_text()
    assert "| cub_vgg16_cam | test/maxboxaccv2 | 63.7 | 60.2 | -3.5 |" in text
    assert "| openimages_vgg16_cam method=center (centre) | test/pxap | 45.8 | – | – |" in text
    assert text in capsys.readouterr().out + "\n"
