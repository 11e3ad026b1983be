"""wsol-predict end to end: a folder with a corrupt file, greyscale, RGBA, CMYK and a large
image, through the CLI in a subprocess, in one process and in two (DDP); settings and errors
in-process."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import compose_config
from tests.helpers.cli import run_cli
from tests.helpers.trained_run import trained_run
from wsol.checkpoints.load import load_checkpoint

pytestmark = pytest.mark.slow

SIZES = {
    "grey.png": (96, 96),
    "large.jpg": (1500, 1000),
    "rgba.png": (120, 80),
    "cmyk.jpg": (64, 64),
}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return trained_run(tmp_path_factory) / "checkpoints" / "last.ckpt"


@pytest.fixture
def folder(tmp_path) -> Path:
    folder = tmp_path / "inputs"
    folder.mkdir()
    rng = np.random.default_rng(0)

    def rgb(width, height):
        return rng.integers(0, 255, (height, width, 3), dtype=np.uint8)

    Image.fromarray(rgb(96, 96)[..., 0]).save(folder / "grey.png")  # mode L
    Image.fromarray(rgb(1500, 1000)).save(folder / "large.jpg", quality=80)
    Image.fromarray(rgb(120, 80)).convert("RGBA").save(folder / "rgba.png")
    Image.fromarray(rgb(64, 64)).convert("CMYK").save(folder / "cmyk.jpg")
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated, not a JPEG")
    return folder


def test_cli_predicts_the_good_images_and_reports_the_bad_one(checkpoint, folder, tmp_path):
    output = tmp_path / "predictions"
    args = [
        f"ckpt_path={checkpoint}",
        f"input={folder}",
        f"output={output}",
        "batch_size=3",
        "extras.print_config=false",
    ]
    result = run_cli("wsol-predict", args, tmp_path, expect=1)
    log = result.stdout + result.stderr
    assert "corrupt.jpg" in log and "unreadable" in log

    records = [json.loads(line) for line in (output / "predictions.jsonl").read_text().splitlines()]
    assert sorted(Path(r["image"]).name for r in records) == sorted(SIZES)
    threshold = float(load_checkpoint(checkpoint)["state_dict"]["loc_threshold"])
    for record in records:
        width, height = SIZES[Path(record["image"]).name]
        assert (record["width"], record["height"]) == (width, height)
        probabilities = [c["probability"] for c in record["top_k"]]
        assert len(probabilities) == 5 and probabilities == sorted(probabilities, reverse=True)
        assert record["class_id"] == record["top_k"][0]["class_id"]
        assert record["class_name"].startswith("class")  # names stored in the checkpoint
        assert record["threshold"] == pytest.approx(threshold)
        assert record["boxes"] and record["frame"] == [96, 96]
        for x0, y0, x1, y1 in record["boxes"]:
            assert 0 <= x0 <= x1 < width and 0 <= y0 <= y1 < height
        overlay = output / record["overlay"]
        with Image.open(overlay) as image:
            assert image.size == (width, height)  # the original resolution
    (failure,) = [json.loads(x) for x in (output / "failures.jsonl").read_text().splitlines()]
    assert failure["image"].endswith("corrupt.jpg") and failure["error"]
    assert sorted(p.name for p in output.iterdir()) == [
        "failures.jsonl",
        "overlays",
        "predictions.jsonl",
    ]  # the per-process part files are merged and removed


@pytest.mark.ddp
def test_two_processes_write_the_same_records_as_one(checkpoint, folder, tmp_path, monkeypatch):
    # One thread per process in both runs: with one process on two threads and two on one
    # (Lightning's default split of the cores), a reduction can round differently and a
    # probability then differs in its last float32 bit.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    # 7 files (one corrupt) in batches of 2: rank 0 gets batches 0 and 2 (4 files, one batch
    # mixing a good and the failed file), rank 1 batches 1 and 3 (3 files, a last batch of one).
    for n in range(2):
        Image.fromarray(np.full((50 + n, 70, 3), 40 * n, np.uint8)).save(folder / f"flat{n}.png")
    outputs = {}
    for name, extra in (("one", []), ("two", ["trainer=ddp_cpu"])):
        outputs[name] = tmp_path / name
        args = [
            f"ckpt_path={checkpoint}",
            f"input={folder}",
            f"output={outputs[name]}",
            f"run_name={name}",
            "batch_size=2",
            "extras.print_config=false",
            *extra,
        ]
        run_cli("wsol-predict", args, tmp_path, expect=1)

    def files(output: Path) -> dict[str, bytes]:
        return {str(p.relative_to(output)): p.read_bytes() for p in output.rglob("*.*")}

    one, two = files(outputs["one"]), files(outputs["two"])
    assert sorted(one) == sorted(two)
    for name in sorted(one):  # records, failures and every overlay, byte for byte
        assert two[name] == one[name], name
    records = [json.loads(line) for line in one["predictions.jsonl"].splitlines()]
    images = [Path(r["image"]).name for r in records]
    assert images == sorted(images) and len(images) == 6  # input order, each image once


@pytest.mark.parametrize("count, size, world", [(7, 2, 2), (10, 3, 4), (2, 5, 3), (0, 4, 2)])
def test_sharded_batches_are_the_single_process_batches(count, size, world):
    from wsol.tasks.predict import ShardedBatches

    single = list(ShardedBatches(count, size, num_replicas=1, rank=0))
    shards = [list(ShardedBatches(count, size, num_replicas=world, rank=r)) for r in range(world)]
    assert sorted(b for shard in shards for b in shard) == single  # each batch once, unchanged
    assert [i for b in single for i in b] == list(range(count))  # each file once, no padding
    assert [len(shard) for shard in shards] == [len(single[r::world]) for r in range(world)]


def predict_in_process(tmp_path, overrides):
    from wsol.tasks.predict import predict

    cfg = compose_config("predict", ["extras.print_config=false", *overrides], tmp_path)
    return predict(cfg)


def test_frame_sized_image_keeps_frame_boxes_and_threshold_override(checkpoint, tmp_path):
    image = tmp_path / "one.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (96, 96, 3), np.uint8)).save(image)
    summary = predict_in_process(
        tmp_path,
        [
            f"ckpt_path={checkpoint}",
            f"input={image}",
            f"output={tmp_path / 'out'}",
            "threshold=0.3",
            "top_k=2",
            "multi_contour=true",
            "overlays=false",
        ],
    )
    assert summary.predicted == 1 and not summary.failed
    (record,) = [
        json.loads(x) for x in (tmp_path / "out/predictions.jsonl").read_text().splitlines()
    ]
    assert record["threshold"] == 0.3 and record["multi_contour"] is True
    assert len(record["top_k"]) == 2 and "overlay" not in record
    assert record["boxes"] == record["boxes_frame"]  # 96 x 96 is the frame itself


def test_bad_settings_are_named(checkpoint, tmp_path):
    with pytest.raises(ValueError, match=r"threshold: must be a number in \[0, 1\)"):
        predict_in_process(
            tmp_path, [f"ckpt_path={checkpoint}", f"input={tmp_path}", "threshold=1.5"]
        )
    with pytest.raises(FileNotFoundError, match="missing_folder"):
        predict_in_process(
            tmp_path, [f"ckpt_path={checkpoint}", f"input={tmp_path}/missing_folder"]
        )
