"""Run analyses score under the run's protocol; ACoL's branch study (scripts/acol_branches.py)."""

from __future__ import annotations

import importlib.util
import json
from functools import partial
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from tests.helpers.trained_run import shared_data_dir, trained_run
from wsol.analysis.part_whole import evaluate_part_whole
from wsol.analysis.run_analyses import CACHE_FILE, analyse_run
from wsol.checkpoints.load import module_from_checkpoint
from wsol.data.synthetic import read_parts
from wsol.methods import ACoLMethod
from wsol.models import build_backbone
from wsol.models.heads import ClassMapHead

ROOT = Path(__file__).resolve().parents[2]


def _study():
    spec = importlib.util.spec_from_file_location(
        "acol_branches", ROOT / "scripts/acol_branches.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def test_branch_view_keeps_one_branch():
    study = _study()
    method = ACoLMethod(
        build_backbone("tiny", widths=(4, 6, 8)), 3, head=partial(ClassMapHead, width=5)
    ).eval()
    labels = torch.tensor([0, 2])
    output = method(torch.randn(2, 3, 32, 32), labels)
    logits_a, maps_a = study.branch_view("a")(method, output, labels)
    logits_b, maps_b = study.branch_view("b")(method, output, labels)
    assert logits_a is output.logits and logits_b is output.aux["logits_b"]
    assert torch.equal(maps_a, output.aux["maps_a"][[0, 1], [0, 2]])
    assert torch.equal(maps_b, output.aux["maps_b"][[0, 1], [0, 2]])
    with pytest.raises(ValueError, match="'c'"):
        study.branch_view("c")


def test_share_of_a_region():
    inside = torch.tensor([[[1, 1], [0, 0]], [[1, 0], [0, 0]]], dtype=torch.bool)
    region = torch.tensor([[[1, 0], [1, 0]], [[0, 0], [0, 0]]], dtype=torch.bool)
    share = _study()._share(inside, region)
    assert share[0] == 0.5 and torch.isnan(share[1])  # an empty region has no share


# Not the defaults in any setting: 1000 thresholds, other IoUs, every contour for loc.
FINE = ("eval=fine", "eval.iou_thresholds=[40,60]", "eval.loc_multi_contour=true")


@pytest.mark.slow
def test_analyses_of_an_eval_fine_run_reproduce_its_metrics_json(tmp_path_factory):
    directory = trained_run(tmp_path_factory, FINE)
    protocol = json.loads((directory / "protocol.json").read_text())
    assert protocol["cam_curve_interval"] == 0.001 and protocol["iou_thresholds"] == [40, 60]
    metrics = json.loads((directory / "metrics.json").read_text())
    module, stored = module_from_checkpoint(directory / "checkpoints" / "last.ckpt")
    assert module.protocol.to_dict() == {
        k: v for k, v in protocol.items() if k in module.protocol.to_dict()
    }
    datamodule = instantiate(OmegaConf.create(stored["data"]))
    datamodule.prepare_data()
    result = evaluate_part_whole(module, datamodule, "test")
    keys = (
        "maxboxaccv2", "maxboxaccv2_iou40", "maxboxaccv2_iou60", "maxboxacc",
        "best_threshold_v1", "gt_known_loc", "top1_loc", "top5_loc", "loc_threshold",
        "top1_acc", "top5_acc", "pxap", "invalid_cams",
    )  # fmt: skip
    for key in keys:
        assert result[key] == pytest.approx(metrics[f"test/{key}"], abs=1e-9), key
    summary = analyse_run(directory, data_dir=shared_data_dir(tmp_path_factory))
    assert summary["map/maxboxaccv2"] == pytest.approx(metrics["test/maxboxaccv2"], abs=1e-9)
    assert summary["map/invalid_cams"] == metrics["test/invalid_cams"]


@pytest.mark.slow
def test_analyses_of_an_acol_checkpoint(tmp_path_factory):
    study = _study()
    directory = trained_run(tmp_path_factory, ("method=acol",))
    result = analyse_run(directory, data_dir=shared_data_dir(tmp_path_factory))
    metrics = json.loads((directory / "metrics.json").read_text())
    # The part/whole evaluation reproduces the run's own test numbers.
    for key in ("maxboxaccv2", "pxap", "top1_acc", "invalid_cams"):
        assert result[f"map/{key}"] == pytest.approx(metrics[f"test/{key}"], abs=1e-9), key
    assert 0 <= result["map/part_coverage"] <= 1 and 0 <= result["map/object_coverage"] <= 1

    module, stored = module_from_checkpoint(directory / "checkpoints" / "last.ckpt")
    datamodule = instantiate(OmegaConf.create(stored["data"]))
    datamodule.prepare_data()
    parts = read_parts(datamodule.split("test").metadata_dir)
    branches = study.evaluate_branches(module, datamodule, parts, "test")
    # Each declared map is analysed at its own val threshold, as the branch analysis does;
    # branch A's map and logits are the declared maps_a with the method's logits.
    for key in ("maxboxaccv2", "pxap", "top1_acc", "part_coverage"):
        assert result[f"maps_a/{key}"] == pytest.approx(branches["a"][key], abs=1e-9), key
    own = module.protocol.replace(loc_threshold=None)
    val = evaluate_part_whole(module, datamodule, "val", protocol=own, view=study.branch_view("b"))
    assert branches["b"]["coverage_threshold"] == val["loc_threshold"]
    assert branches["a"]["top1_acc"] == result["map/top1_acc"]

    # Erasing statistics agree with the method's own erased fraction on the same images.
    batch = next(iter(datamodule.dataloader_for("test")))
    assert len(batch["labels"]) == len(datamodule.split("test").records)
    with torch.no_grad():
        output = module.method.eval()(batch["images"], batch["labels"])
    erasing = study.erasing_stats(module, datamodule, "test", parts)
    assert erasing["erased_fraction"] == pytest.approx(float(output.aux["erased_fraction"]))
    for key in ("object_erased", "part_erased", "erased_on_object", "constant_attention"):
        assert 0 <= erasing[key] <= 1, key

    # The script's command line writes both studies.
    written = tmp_path_factory.mktemp("acol_study") / "acol.json"
    study.main(
        [
            str(directory),
            "--output",
            str(written),
            "--data-dir",
            str(shared_data_dir(tmp_path_factory)),
        ]
    )
    numbers = json.loads(written.read_text())
    assert numbers["branches"]["b"]["maxboxaccv2"] == pytest.approx(branches["b"]["maxboxaccv2"])
    assert numbers["erasing"]["erased_fraction"] == pytest.approx(erasing["erased_fraction"])

    # Cached: a second call reads the file, refresh recomputes.
    cache = directory / CACHE_FILE
    cache.write_text(json.dumps({**result, "marker": 1}))
    assert analyse_run(directory, data_dir=shared_data_dir(tmp_path_factory))["marker"] == 1
    assert "marker" not in analyse_run(
        directory, refresh=True, data_dir=shared_data_dir(tmp_path_factory)
    )
