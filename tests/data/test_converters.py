"""Converters from the original layouts: metadata checked line by line, refusals with reasons,
errors naming file and line, idempotence, and the output read back by the loaders."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.data.original_formats import (
    cub_tree,
    folder_tree,
    ilsvrc_tree,
    openimages_tree,
    voc,
    write,
)
from wsol.data.formats.cub import prepare_cub
from wsol.data.formats.folder import prepare_folder
from wsol.data.formats.imagenet import prepare_imagenet
from wsol.data.formats.openimages import prepare_openimages
from wsol.data.formats.wsoleval import read_split

ROOT = Path(__file__).resolve().parents[2]


def files(split_dir: Path) -> dict[str, list[str]]:
    """The four metadata files of a split, as lists of lines."""
    names = ("image_ids", "class_labels", "image_sizes", "localization")
    return {n: (split_dir / f"{n}.txt").read_text().splitlines() for n in names}


def refused(out: Path) -> dict[str, str]:
    lines = (out / "refused.txt").read_text().splitlines()
    return dict(line.split("\t", 1) for line in lines)


def snapshot(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------- CUB
def test_cub_metadata_line_by_line(tmp_path):
    root = cub_tree(tmp_path / "CUB_200_2011")
    out = tmp_path / "out"
    summary = prepare_cub(root, out, num_classes=2, progress=False)
    assert files(out / "train") == {
        "image_ids": ["001.Albatross/a1.jpg", "002.Bunting/b1.jpg"],
        "class_labels": ["001.Albatross/a1.jpg,0", "002.Bunting/b1.jpg,1"],
        "image_sizes": ["001.Albatross/a1.jpg,40,30", "002.Bunting/b1.jpg,30,30"],
        # x y w h floats → (x, y, x + w, y + h) as integers
        "localization": ["001.Albatross/a1.jpg,2,3,22,13", "002.Bunting/b1.jpg,5,5,15,15"],
    }
    assert files(out / "test") == {
        "image_ids": ["001.Albatross/a2.jpg"],
        "class_labels": ["001.Albatross/a2.jpg,0"],
        "image_sizes": ["001.Albatross/a2.jpg,50,20"],
        "localization": ["001.Albatross/a2.jpg,0,0,49,19"],  # x + w = 50 clipped to 49
    }
    reasons = refused(out)
    assert reasons.keys() == {"002.Bunting/b2.jpg", "002.Bunting/b3.jpg"}
    assert "image file not found" in reasons["002.Bunting/b2.jpg"]
    assert "unreadable image" in reasons["002.Bunting/b3.jpg"]
    assert summary.written == {"test": 1, "train": 2}
    assert summary.notes["boxes clipped to their image"] == 1
    assert (out / "class_names.txt").read_text() == "001.Albatross\n002.Bunting\n"
    split = read_split(out / "test", root / "images", num_classes=2)
    assert split.records[0].boxes == ((0, 0, 49, 19),)


def test_cub_val_list_and_idempotence(tmp_path):
    root = cub_tree(tmp_path / "cub")
    val = write(tmp_path / "val.txt", "# carved from train\n002.Bunting/b1.jpg\n")
    out = tmp_path / "out"
    prepare_cub(root, out, num_classes=2, val_list=val, progress=False)
    first = snapshot(out)
    assert files(out / "val")["image_ids"] == ["002.Bunting/b1.jpg"]
    assert files(out / "train")["image_ids"] == ["001.Albatross/a1.jpg"]
    prepare_cub(root, out, num_classes=2, val_list=val, workers=2, progress=False)
    assert snapshot(out) == first


@pytest.mark.parametrize(
    "file, text, message",
    [
        ("bounding_boxes.txt", "1 2 3 4 5\n2 0 0 5 2\n3 5 5 x 1\n4 1 1 5 5\n5 1 1 5 5", ":3: w"),
        ("images.txt", "1 001.Albatross/a1.jpg\n2\n", r"images.txt:2: expected 2 fields"),
        ("image_class_labels.txt", "1 1\n2 1\n3 3\n4 2\n5 2\n", r"labels.txt:3: class 3 not in"),
        ("train_test_split.txt", "1 1\n2 0\n3 1\n4 0\n5 2\n", r"split.txt:5: expected 1 or 0"),
        ("train_test_split.txt", "1 1\n2 0\n3 1\n4 0\n", r"images.txt:5: image id 5 has no line"),
        ("image_class_labels.txt", "1 1\n1 1\n", r"labels.txt:2: duplicate image id 1"),
    ],
)
def test_cub_malformed_lines_name_file_and_line(tmp_path, file, text, message):
    root = cub_tree(tmp_path / "cub")
    write(root / file, text)
    with pytest.raises(ValueError, match=message):
        prepare_cub(root, tmp_path / "out", num_classes=2, progress=False)
    assert not (tmp_path / "out").exists()  # nothing written


def test_val_list_naming_an_unknown_image(tmp_path):
    root = cub_tree(tmp_path / "cub")
    val = write(tmp_path / "val.txt", "001.Albatross/a1.jpg\nnope.jpg\n")
    with pytest.raises(ValueError, match=r"val.txt:2: image 'nope.jpg' is not among"):
        prepare_cub(root, tmp_path / "out", num_classes=2, val_list=val, progress=False)


# ---------------------------------------------------------------- ILSVRC
def test_imagenet_metadata_line_by_line(tmp_path):
    root = ilsvrc_tree(tmp_path / "ILSVRC")
    out = tmp_path / "out"
    summary = prepare_imagenet(
        out,
        train_dir=root / "train",
        val_images=root / "val",
        val_boxes=root / "val_xml",
        progress=False,
    )
    # Class index = sorted WNID position (n01 < n02 < n03), not the folders' listing order.
    assert files(out / "train") == {
        "image_ids": ["train/n01/n01_1.JPEG", "train/n02/n02_1.JPEG", "train/n03/n03_1.JPEG"],
        "class_labels": [
            "train/n01/n01_1.JPEG,0",
            "train/n02/n02_1.JPEG,1",
            "train/n03/n03_1.JPEG,2",
        ],
        "image_sizes": [f"train/{w}/{w}_1.JPEG,32,24" for w in ("n01", "n02", "n03")],
        "localization": [],
    }
    assert files(out / "test") == {
        "image_ids": ["val/v1.JPEG", "val/v2.JPEG"],
        "class_labels": ["val/v1.JPEG,2", "val/v2.JPEG,0"],
        "image_sizes": ["val/v1.JPEG,60,40", "val/v2.JPEG,20,20"],
        "localization": [
            "val/v1.JPEG,1,2,30,20",
            "val/v1.JPEG,40,10,59,39",  # two objects of one image
            "val/v2.JPEG,0,0,19,19",
        ],
    }
    reasons = refused(out)
    assert "objects of several classes ['n01', 'n02'] in v3.xml" in reasons["val/v3.JPEG"]
    assert "image file not found" in reasons["v4"]
    assert "no v5.xml" in reasons["val/v5.JPEG"]
    assert "unreadable image" in reasons["val/v6.JPEG"]
    assert "unreadable image" in reasons["train/n03/n03_2.JPEG"]
    assert len(reasons) == 5 and summary.written == {"test": 2, "train": 3}
    assert (out / "class_names.txt").read_text() == "n01\nn02\nn03\n"


@pytest.mark.parametrize(
    "content, message",
    [
        ("<annotation><object><name>n01</name>", r"v1.xml:1: not valid XML"),
        (None, r"v1.xml: object 1: <bndbox> has no <ymax>"),
    ],
)
def test_imagenet_malformed_xml(tmp_path, content, message):
    root = ilsvrc_tree(tmp_path / "ILSVRC")
    if content is None:
        voc(root / "val_xml/v1.xml", [("n01", (1, 2, 3, 4))])
        xml = root / "val_xml/v1.xml"
        xml.write_text(xml.read_text().replace("<ymax>4</ymax>", ""))
    else:
        write(root / "val_xml/v1.xml", content)
    with pytest.raises(ValueError, match=message):
        prepare_imagenet(
            tmp_path / "out", val_images=root / "val", val_boxes=root / "val_xml", progress=False
        )


# ---------------------------------------------------------------- OpenImages
def test_openimages_metadata_line_by_line(tmp_path):
    root = openimages_tree(tmp_path / "OpenImages")
    out = tmp_path / "out"
    summary = prepare_openimages(root, out, progress=False)
    assert files(out / "train") == {
        "image_ids": ["train/01a/t2.jpg", "train/02b/t1.jpg"],
        "class_labels": ["train/01a/t2.jpg,0", "train/02b/t1.jpg,1"],
        "image_sizes": ["train/01a/t2.jpg,30,40", "train/02b/t1.jpg,40,30"],
        "localization": [],
    }
    assert files(out / "test") == {
        "image_ids": ["test/01a/i1.jpg", "test/02b/i2.jpg"],
        "class_labels": ["test/01a/i1.jpg,0", "test/02b/i2.jpg,1"],
        "image_sizes": ["test/01a/i1.jpg,64,48", "test/02b/i2.jpg,37,53"],
        # only an image's first mask line carries its ignore mask
        "localization": [
            "test/01a/i1.jpg,test/01a/i1_m01a_aa.png,test/01a/i1_ignore.png",
            "test/01a/i1.jpg,test/01a/i1_m01a_bb.png,",
            "test/02b/i2.jpg,test/02b/i2_m02b_cc.png,",
        ],
    }
    reasons = refused(out)
    assert reasons["test/02b/i3.jpg"] == "no box or mask: test is scored"
    assert "unreadable mask image" in reasons["test/02b/i4.jpg"]
    assert "is 25x25, the image 50x50" in reasons["test/02b/i5.jpg"]
    assert reasons["test/02b/i6.jpg"] == "mask i6_m01a_ff.png is not of class 02b"
    assert "unreadable image" in reasons["test/01a/i7.jpg"]
    assert reasons["test/01a/i8"] == "masks but no image file"
    assert len(reasons) == 6 and summary.written == {"test": 2, "train": 2}
    split = read_split(out / "test", root, mask_root=root, num_classes=2)
    assert split.records[0].ignore_path == root / "test/01a/i1_ignore.png"
    assert split.records[1].ignore_path is None and split.has_masks


# ---------------------------------------------------------------- class folders
def test_folder_with_voc_and_coco_boxes(tmp_path):
    root = folder_tree(tmp_path / "mine")
    val = write(tmp_path / "val.txt", "cat/c1.jpg\ndog/d2.jpg\n")
    test = write(tmp_path / "test.txt", "dog/d1.jpg\n")
    out = tmp_path / "out"
    summary = prepare_folder(
        root, out, coco=tmp_path / "coco.json", val_list=val, test_list=test, progress=False
    )
    assert files(out / "val") == {
        "image_ids": ["cat/c1.jpg"],
        "class_labels": ["cat/c1.jpg,0"],
        "image_sizes": ["cat/c1.jpg,40,40"],
        "localization": ["cat/c1.jpg,2,3,20,30", "cat/c1.jpg,25,25,39,39"],  # VOC, 2 objects
    }
    assert files(out / "test") == {
        "image_ids": ["dog/d1.jpg"],
        "class_labels": ["dog/d1.jpg,1"],
        "image_sizes": ["dog/d1.jpg,50,40"],
        "localization": ["dog/d1.jpg,0,0,10,10", "dog/d1.jpg,5,6,12,14"],  # COCO x y w h
    }
    assert files(out / "train") == {
        "image_ids": ["cat/c2.png", "dog/d2.jpg"],
        "class_labels": ["cat/c2.png,0", "dog/d2.jpg,1"],
        "image_sizes": ["cat/c2.png,30,20", "dog/d2.jpg,50,40"],
        "localization": ["cat/c2.png,1,2,11,19"],  # y + h = 32 clipped to 19
    }
    reasons = refused(out)
    assert "unreadable image" in reasons["dog/d3.jpg"]
    assert "named in" in reasons["dog/gone.jpg"] and len(reasons) == 2
    assert summary.notes["images listed for val without boxes, trained on"] == 1
    assert summary.notes["train images without boxes (trained on, not scored)"] == 1
    assert "  train images without boxes (trained on, not scored): 1" in summary.lines()


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"images": [}', r"coco.json:1: not valid JSON"),
        (
            '{"images": [{"id": 1, "file_name": "cat/c1.jpg"}], '
            '"annotations": [{"image_id": 1, "bbox": [1, 2, 3]}]}',
            r"coco.json: annotations\[0\]: 'bbox' must be",
        ),
        (
            '{"images": [{"id": 1, "file_name": "cat/c1.jpg"}], '
            '"annotations": [{"image_id": 2, "bbox": [1, 2, 3, 4]}]}',
            r"annotations\[0\]: image_id 2 is not in 'images'",
        ),
    ],
)
def test_folder_malformed_coco(tmp_path, text, message):
    root = folder_tree(tmp_path / "mine")
    write(tmp_path / "coco.json", text)
    with pytest.raises(ValueError, match=message):
        prepare_folder(root, tmp_path / "out", coco=tmp_path / "coco.json", progress=False)


@pytest.mark.slow
def test_script_prints_the_summary(tmp_path):
    root = cub_tree(tmp_path / "cub")
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts/prepare_cub.py"), str(root), str(tmp_path / "out")]
        + ["--workers", "0", "--no-progress"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert "train: 2 images" in result.stdout and "refused: 2" in result.stdout
    assert "002.Bunting/b3.jpg: " in result.stdout
    assert f"data.data_root={root / 'images'}" in result.stdout
