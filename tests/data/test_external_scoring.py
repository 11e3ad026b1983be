"""``wsol-eval cams_dir=... metadata_dir=... mask_root=...`` on OpenImages-format metadata with
an empty image_sizes.txt (as the benchmark ships it) gives the reference PxAP; sizes that
contradict the masks are an error naming the first mismatch."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import compose_config
from tests.data.original_formats import openimages_tree
from tests.helpers.cli import run_cli
from wsol.data.formats.openimages import prepare_openimages
from wsol.metrics.reference import pxap as reference_pxap

FRAME = 224


@pytest.fixture(scope="module")
def split(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(metadata dir of the test split with an empty image_sizes.txt, mask root, cams dir)."""
    base = tmp_path_factory.mktemp("openimages")
    root = openimages_tree(base / "OpenImages")
    prepare_openimages(root, base / "metadata", progress=False)
    metadata = base / "metadata" / "test"
    (metadata / "image_sizes.txt").write_text("")
    rng = np.random.default_rng(0)
    for image_id in (metadata / "image_ids.txt").read_text().split():
        path = base / "cams" / f"{image_id}.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        coarse = rng.random((7, 7))
        np.save(path, cv2.resize(coarse, (FRAME, FRAME), interpolation=cv2.INTER_CUBIC).clip(0, 1))
    return metadata, root, base / "cams"


def reference_gt(metadata: Path, mask_root: Path) -> tuple[list, list]:
    """Score maps and GT masks as the reference evaluator builds them (OpenCV)."""
    masks: dict[str, list] = {}
    ignores: dict[str, str] = {}
    for line in (metadata / "localization.txt").read_text().splitlines():
        image_id, mask, ignore = line.split(",")
        masks.setdefault(image_id, []).append(mask)
        ignores.setdefault(image_id, ignore)
    maps, gts = [], []
    for image_id in (metadata / "image_ids.txt").read_text().split():
        maps.append(np.load(metadata.parents[1] / "cams" / f"{image_id}.npy"))

        def read(name):
            image = cv2.imread(str(mask_root / name), cv2.IMREAD_GRAYSCALE).astype(np.float32)
            return cv2.resize(image, (FRAME, FRAME), interpolation=cv2.INTER_NEAREST) > 0.5

        foreground = np.any([read(m) for m in masks[image_id]], axis=0)
        gt = foreground.astype(np.uint8)
        if ignores[image_id]:
            gt[read(ignores[image_id]) & ~foreground] = 255
        gts.append(gt)
    return maps, gts


@pytest.mark.slow
def test_wsol_eval_scores_empty_image_sizes_like_the_reference(tmp_path, split):
    metadata, mask_root, cams = split
    run_cli(
        "wsol-eval",
        [f"cams_dir={cams}", f"metadata_dir={metadata}", f"mask_root={mask_root}", "run_name=x"],
        tmp_path,
    )
    (metrics_file,) = (tmp_path / "logs").rglob("metrics.json")
    metrics = json.loads(metrics_file.read_text())
    maps, gts = reference_gt(metadata, mask_root)
    expected = reference_pxap(maps, gts, 0.01)["value"]
    assert metrics["test/pxap"] == pytest.approx(expected, abs=1e-9)
    assert 0 < expected < 100


def score(tmp_path: Path, metadata: Path, mask_root: Path, cams: Path) -> dict:
    from wsol.tasks.evaluate import evaluate

    overrides = [f"cams_dir={cams}", f"metadata_dir={metadata}", f"mask_root={mask_root}"]
    return evaluate(compose_config("eval", ["extras.print_config=false", *overrides], tmp_path))


def test_sizes_that_contradict_the_masks_are_named(tmp_path, split):
    metadata, mask_root, cams = split
    copy = tmp_path / "metadata" / "test"
    copy.mkdir(parents=True)
    for name in ("image_ids", "class_labels", "localization"):
        (copy / f"{name}.txt").write_text((metadata / f"{name}.txt").read_text())
    # Matching sizes score exactly as no sizes do.
    (copy / "image_sizes.txt").write_text("test/01a/i1.jpg,64,48\ntest/02b/i2.jpg,37,53\n")
    matching = score(tmp_path / "a", copy, mask_root, cams)
    empty = score(tmp_path / "b", metadata, mask_root, cams)
    assert matching["test/pxap"] == empty["test/pxap"]
    (copy / "image_sizes.txt").write_text("test/01a/i1.jpg,64,48\ntest/02b/i2.jpg,53,37\n")
    with pytest.raises(
        ValueError,
        match=r"image_sizes.txt gives 'test/02b/i2.jpg' as 53x37, but "
        r"its mask .*i2_m02b_cc.png is 37x53",
    ):
        score(tmp_path / "c", copy, mask_root, cams)
