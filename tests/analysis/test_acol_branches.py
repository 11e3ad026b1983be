"""ACoL's branches as methods of their own, and where its erasing lands."""

from __future__ import annotations

import json

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from tests.helpers.trained_run import shared_data_dir, trained_run
from wsol.analysis.acol_branches import _share, branch_view, erasing_stats, evaluate_branches
from wsol.analysis.part_whole import evaluate_part_whole
from wsol.analysis.run_analyses import CACHE_FILE, analyse_run
from wsol.data.synthetic import read_parts
from wsol.methods.outputs import MethodOutput
from wsol.utils.checkpoint import module_from_checkpoint


def test_branch_view_keeps_one_branch():
    aux = {name: torch.rand(2, 3, 4, 4) for name in ("maps_a", "maps_b")}
    aux["logits_b"] = torch.rand(2, 3)
    output = MethodOutput(logits=torch.rand(2, 3), class_maps=torch.rand(2, 3, 4, 4), aux=aux)
    a, b = branch_view("a")(output), branch_view("b")(output)
    assert a.logits is output.logits and torch.equal(a.class_maps, aux["maps_a"])
    assert b.logits is aux["logits_b"] and torch.equal(b.class_maps, aux["maps_b"])
    with pytest.raises(ValueError, match="'c'"):
        branch_view("c")


def test_share_of_a_region():
    inside = torch.tensor([[[1, 1], [0, 0]], [[1, 0], [0, 0]]], dtype=torch.bool)
    region = torch.tensor([[[1, 0], [1, 0]], [[0, 0], [0, 0]]], dtype=torch.bool)
    share = _share(inside, region)
    assert share[0] == 0.5 and torch.isnan(share[1])  # an empty region has no share


@pytest.mark.slow
def test_analyses_of_an_acol_checkpoint(tmp_path_factory):
    directory = trained_run(tmp_path_factory, ("method=acol",))
    data_dir = shared_data_dir(tmp_path_factory)
    result = analyse_run(directory, data_dir=data_dir)
    metrics = json.loads((directory / "metrics.json").read_text())
    # The part/whole evaluation reproduces the run's own test numbers.
    for key in ("maxboxaccv2", "pxap", "top1_acc"):
        assert result[f"map/{key}"] == pytest.approx(metrics[f"test/{key}"], abs=1e-9), key
    assert 0 <= result["map/part_coverage"] <= 1 and 0 <= result["map/object_coverage"] <= 1

    module, stored = module_from_checkpoint(directory / "checkpoints" / "last.ckpt")
    datamodule = instantiate(OmegaConf.create(stored["data"]))
    datamodule.prepare_data()
    parts = read_parts(datamodule.split("test").metadata_dir)
    branches = evaluate_branches(module, datamodule, parts, "test")
    # Each declared map is analysed at its own val threshold, as the branch analysis does;
    # branch A's map and logits are the declared maps_a with the method's logits.
    for key in ("maxboxaccv2", "pxap", "top1_acc", "part_coverage"):
        assert result[f"maps_a/{key}"] == pytest.approx(branches["a"][key], abs=1e-9), key
    val = evaluate_part_whole(
        module, datamodule, "val", view=branch_view("b"), stored_threshold=False
    )
    assert branches["b"]["coverage_threshold"] == val["loc_threshold"]
    assert branches["a"]["top1_acc"] == result["map/top1_acc"]

    # Erasing statistics agree with the method's own erased fraction on the same images.
    batch = next(iter(datamodule.dataloader_for("test")))
    assert len(batch["labels"]) == len(datamodule.split("test").records)
    with torch.no_grad():
        output = module.method.eval()(batch["images"], batch["labels"])
    erasing = erasing_stats(module, datamodule, "test", parts)
    assert erasing["erased_fraction"] == pytest.approx(float(output.aux["erased_fraction"]))
    for key in ("object_erased", "part_erased", "erased_on_object", "constant_attention"):
        assert 0 <= erasing[key] <= 1, key

    # Cached: a second call reads the file, refresh recomputes.
    cache = directory / CACHE_FILE
    cache.write_text(json.dumps({**result, "marker": 1}))
    assert analyse_run(directory, data_dir=data_dir)["marker"] == 1
    assert "marker" not in analyse_run(directory, refresh=True, data_dir=data_dir)
