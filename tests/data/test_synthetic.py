"""The synthetic benchmark: determinism, reuse, annotations, geometry, variants and probes."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from wsol.data.formats.wsoleval import read_split
from wsol.data.synthetic import (
    SyntheticConfig,
    SyntheticPreparer,
    class_patterns,
    decoy_patterns,
    draw_scene,
    read_parts,
    synthetic_roots,
)
from wsol.data.synthetic import preparer as preparer_module


def folder_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def inside(boxes, shape) -> np.ndarray:
    region = np.zeros(shape, dtype=bool)
    for x0, y0, x1, y1 in boxes:
        region[y0 : y1 + 1, x0 : x1 + 1] = True
    return region


def test_same_seed_same_bytes_other_seed_other_images(tiny_synthetic, tmp_path):
    again = dataclasses.replace(tiny_synthetic, root=str(tmp_path))
    again()
    for probe in again.config.probe_splits():
        again.prepare_split(probe)
    assert again.folder.name == tiny_synthetic.folder.name
    assert folder_digest(again.folder) == folder_digest(tiny_synthetic.folder)
    other = dataclasses.replace(again, seed=1)
    assert other.folder != again.folder
    a, b = draw_scene(again.config, "test", 3), draw_scene(other.config, "test", 3)
    assert not np.array_equal(a.image, b.image)


def test_second_call_reuses_and_changed_parameters_regenerate(tiny_synthetic, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("regenerated")

    monkeypatch.setattr(preparer_module, "generate_benchmark", fail)
    tiny_synthetic()  # complete: nothing is generated
    changed = dataclasses.replace(tiny_synthetic, hue_noise=0.5)
    assert changed.folder != tiny_synthetic.folder and not changed.is_complete()
    with pytest.raises(AssertionError, match="regenerated"):
        changed()


def test_incomplete_leftover_is_replaced(tiny_synthetic, tmp_path):
    preparer = dataclasses.replace(tiny_synthetic, root=str(tmp_path), probes=())
    preparer.folder.mkdir(parents=True)
    (preparer.folder / "stale.txt").write_text("half-written")
    preparer()
    assert preparer.is_complete() and not (preparer.folder / "stale.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == [preparer.folder.name]  # no staging left


def test_split_content_does_not_depend_on_other_split_sizes():
    small = SyntheticConfig(train_size=10, test_size=5)
    large = SyntheticConfig(train_size=99, test_size=50)
    for index in range(5):
        assert np.array_equal(
            draw_scene(small, "test", index).image, draw_scene(large, "test", index).image
        )
    assert not np.array_equal(draw_scene(small, "test", 0).image, draw_scene(small, "val", 0).image)


def test_probe_splits_are_drawn_on_first_use(tiny_synthetic, tmp_path):
    preparer = dataclasses.replace(tiny_synthetic, root=str(tmp_path))
    with pytest.raises(RuntimeError, match="not generated yet"):
        preparer.prepare_split("test_decoy_part")
    preparer()
    metadata = preparer.folder / "metadata"
    assert sorted(p.name for p in metadata.iterdir()) == ["test", "train", "val"]
    preparer.prepare_split("train")  # not a probe: nothing to do
    preparer.prepare_split("test_decoy_part")
    assert (metadata / "test_decoy_part").is_dir() and not (metadata / "test_random_body").exists()
    preparer.prepare_split("test_random_body")
    assert not [p for p in preparer.folder.iterdir() if p.name.startswith(".")]  # no staging
    assert folder_digest(preparer.folder) == folder_digest(tiny_synthetic.folder)
    # Drawn again on top of an existing copy (a process that lost the race): kept as it was.
    shutil.rmtree(metadata / "test_decoy_part")
    preparer.prepare_split("test_decoy_part")
    assert folder_digest(preparer.folder) == folder_digest(tiny_synthetic.folder)


def test_generated_splits_read_back_with_masks_boxes_and_parts(tiny_synthetic):
    metadata_root, data_root, mask_root = tiny_synthetic.roots()
    train = read_split(metadata_root / "train", data_root, mask_root, 8, require_localization=False)
    assert len(train) == 16 and train.has_boxes and not train.has_masks
    assert [r.label for r in train.records] == [i % 8 for i in range(16)]
    for name, size in [("val", 8), ("test", 12), ("test_decoy_part", 12), ("test_random_body", 12)]:
        split = read_split(metadata_root / name, data_root, mask_root, num_classes=8)
        parts = read_parts(metadata_root / name)
        assert len(split) == size and split.has_masks
        for record in split.records:
            assert len(record.mask_paths) == len(record.boxes) == len(parts[record.image_id])
            assert record.ignore_path == mask_root / "ignore_empty.png"
            for box, mask_path, part in zip(
                record.boxes, record.mask_paths, parts[record.image_id], strict=True
            ):
                mask = np.asarray(Image.open(mask_path)) > 0
                ys, xs = np.nonzero(mask)
                assert box == (xs.min(), ys.min(), xs.max(), ys.max())  # tight box of the mask
                px0, py0, px1, py1 = part
                assert mask[py0 : py1 + 1, px0 : px1 + 1].all()  # the part lies on the object
    names = (tiny_synthetic.folder / "class_names.txt").read_text().split()
    assert names == tiny_synthetic.class_names and len(names) == 8


def test_geometry_matches_the_specification():
    cfg = SyntheticConfig()
    size, sides, aspects, multi, part_ratio = cfg.image_size, [], [], 0, []
    for index in range(400):
        scene = draw_scene(cfg, "geometry", index)
        multi += len(scene.boxes) > 1
        for (x0, y0, x1, y1), part in zip(scene.boxes, scene.parts, strict=True):
            w, h = x1 - x0 + 1, y1 - y0 + 1
            sides.append(np.sqrt(w * h) / size)
            aspects.append(max(w / h, h / w))
            side = part[2] - part[0] + 1
            assert side >= cfg.min_part_size and side == part[3] - part[1] + 1
            part_ratio.append(side / min(w, h))
            if len(scene.boxes) > 1:
                assert np.sqrt(w * h) <= cfg.multi_instance_max_scale * size + 1
    assert 0.13 <= min(sides) and max(sides) <= 0.72
    assert max(aspects) <= 2.0 * 1.1
    assert 0.18 <= multi / 400 <= 0.32
    assert 0.25 <= float(np.median(part_ratio)) <= 0.4


def test_patterns_survive_flips_and_decoys_are_no_class():
    patterns = class_patterns(8)
    assert np.array_equal(patterns, patterns[:, :, ::-1])  # a mirrored part keeps its class
    distances = (patterns[:, None] != patterns[None]).sum(axis=(2, 3))
    assert distances[~np.eye(8, dtype=bool)].min() >= 3
    decoys = decoy_patterns(8)
    for flipped in (decoys, decoys[:, :, ::-1]):
        assert (flipped[:, None] != patterns[None]).sum(axis=(2, 3)).min() >= 2


@pytest.mark.parametrize("index", range(12))
def test_variants_differ_only_where_they_should(index):
    cfg = SyntheticConfig()
    base = draw_scene(cfg, "test", index)
    control = draw_scene(dataclasses.replace(cfg, with_parts=False), "test", index)
    decoy = draw_scene(cfg, "test", index, "decoy_part")
    random_body = draw_scene(cfg, "test", index, "random_body")
    parts = inside(base.parts, base.image.shape[:2])
    bodies = np.any(base.masks, axis=0)
    for other in (control, decoy, random_body):
        assert other.boxes == base.boxes and other.parts == base.parts
        assert all(np.array_equal(a, b) for a, b in zip(other.masks, base.masks, strict=True))
    changed = lambda other: (other.image != base.image).any(axis=2)  # noqa: E731
    assert not changed(control)[~parts].any() and changed(control)[parts].any()
    assert not changed(decoy)[~parts].any() and changed(decoy)[parts].any()
    assert not changed(random_body)[~bodies].any() and changed(random_body)[bodies].any()


def test_preparer_from_yaml_like_values_and_roots(tmp_path):
    preparer = SyntheticPreparer(root=str(tmp_path), scale_range=[0.2, 0.5], probes=["random_body"])
    assert preparer.scale_range == (0.2, 0.5) and preparer.probes == ("random_body",)
    roots = synthetic_roots(str(tmp_path), scale_range=[0.2, 0.5], probes=["random_body"])
    assert roots == preparer.roots() and roots.metadata_root.parent.name.startswith("synthetic-")
    assert "test_random_body" in preparer.config.split_sizes()
    with pytest.raises(ValueError, match="unknown synthetic probes"):
        SyntheticPreparer(root=str(tmp_path), probes=["nope"])
