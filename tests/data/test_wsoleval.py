"""The wsolevaluation metadata reader: valid splits, round trip, and every bad-data error."""

from __future__ import annotations

import re

import pytest

import wsol.data.records as records_module
from wsol.data.formats.wsoleval import read_split, write_split


def test_reads_boxes_masks_and_order(valid):
    split = read_split(valid.meta, valid.data, num_classes=3)
    assert [r.image_id for r in split.records] == ["a.png", "b.png"]
    a, b = split.records
    assert (a.label, a.width, a.height) == (0, 20, 10)
    assert a.boxes == ((0, 0, 19, 9), (3, 2, 3, 2))  # a one-pixel box is legal
    assert not a.has_masks and a.ignore_path is None
    assert b.mask_paths == (valid.data / "b_m0.png", valid.data / "b_m0.png")
    assert b.ignore_path == valid.data / "b_ignore.png"
    assert b.boxes == ((3, 2, 8, 4),)
    assert split.has_boxes and split.has_masks and split.name == "split"


def test_round_trip_with_writer(valid, tmp_path):
    split = read_split(valid.meta, valid.data)
    out = tmp_path / "copy"
    write_split(split.records, out, valid.data)
    again = read_split(out, valid.data)
    assert again.records == split.records
    for name in ("image_ids", "class_labels", "image_sizes", "localization"):
        assert (out / f"{name}.txt").read_text() == (valid.meta / f"{name}.txt").read_text()


@pytest.mark.parametrize("sizes", ["absent", "empty"])
def test_missing_sizes_are_read_lazily_from_headers(valid, monkeypatch, sizes):
    path = valid.meta / "image_sizes.txt"
    path.unlink() if sizes == "absent" else path.write_text("")
    opened = []
    real = records_module.image_size
    monkeypatch.setattr(records_module, "image_size", lambda p: opened.append(p) or real(p))
    split = read_split(valid.meta, valid.data, mask_root=valid.data)
    assert opened == []  # nothing is opened up front
    a, b = split.records
    assert (a.width, a.height) == (None, None) and not a.size_known
    assert a.size == (20, 10) and a.size == (20, 10)
    assert opened == [valid.data / "a.png"]  # read once, then cached
    # Mask data scored without the images: the size comes from the first mask.
    (valid.data / "b.png").unlink()
    split = read_split(valid.meta, valid.data, check_files=False)
    assert split.records[1].size == (20, 10)
    assert opened[-1] == valid.data / "b_m0.png"
    # Box data without sizes and without its image: the error names both.
    (valid.data / "a.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"a.png: image file not found .*image_sizes"):
        _ = split.records[0].size


def test_partial_sizes_file_names_the_missing_image(valid):
    (valid.meta / "image_sizes.txt").write_text("a.png,20,10\n")
    with pytest.raises(ValueError, match=r"image_ids.txt:2: image 'b.png' has no line in image_s"):
        read_split(valid.meta, valid.data)


def test_training_split_without_localization(valid):
    (valid.meta / "localization.txt").unlink()
    split = read_split(valid.meta, valid.data, require_localization=False)
    assert all(not r.boxes and not r.has_masks for r in split.records)
    with pytest.raises(FileNotFoundError, match=r"localization.txt: metadata file not found"):
        read_split(valid.meta, valid.data)


LOC = "a.png,0,0,19,9\nb.png,3,2,8,4\n"


@pytest.mark.parametrize(
    "files, error, message",
    [
        ({"image_ids": ""}, ValueError, r"image_ids.txt: empty split"),
        ({"image_ids": "a.png\na.png\n"}, ValueError, r"image_ids.txt:2: duplicate image id"),
        ({"image_ids": "a.png,x\n"}, ValueError, r"image_ids.txt:1: expected 1 fields"),
        ({"class_labels": "a.png,0\nb.png\n"}, ValueError, r"class_labels.txt:2: expected 2"),
        ({"class_labels": "a.png,0\nb.png,x\n"}, ValueError, r"class_labels.txt:2: label is not"),
        (
            {"class_labels": "a.png,0\nb.png,3\n"},
            ValueError,
            r"class_labels.txt:2: unknown label 3",
        ),
        ({"class_labels": "a.png,-1\nb.png,0\n"}, ValueError, r"class_labels.txt:1: unknown label"),
        ({"class_labels": "a.png,0\n"}, ValueError, r"image_ids.txt:2: image 'b.png' has no line"),
        (
            {"class_labels": "a.png,0\nb.png,0\nc.png,0\n"},
            ValueError,
            r"class_labels.txt:3: image 'c.png' is not in image_ids.txt",
        ),
        ({"class_labels": "a.png,0\na.png,1\n"}, ValueError, r"class_labels.txt:2: duplicate"),
        (
            {"image_sizes": "a.png,20,10\nb.png,20,0\n"},
            ValueError,
            r"image_sizes.txt:2: .*positive",
        ),
        ({"image_sizes": "a.png,20,10\nb.png,20.5,10\n"}, ValueError, r"image_sizes.txt:2: w is"),
        (
            {"localization": LOC + "a.png,0,0,20,9\n"},
            ValueError,
            r"localization.txt:3: box .*outside",
        ),
        (
            {"localization": LOC + "a.png,0,0,5,10\n"},
            ValueError,
            r"localization.txt:3: box .*outside",
        ),
        ({"localization": LOC + "a.png,6,0,5,9\n"}, ValueError, r"localization.txt:3: .*x0 > x1"),
        ({"localization": LOC + "a.png,0,5,5,4\n"}, ValueError, r"localization.txt:3: .*y0 > y1"),
        ({"localization": LOC + "a.png,-1,0,5,4\n"}, ValueError, r"localization.txt:3: negative"),
        ({"localization": LOC + "a.png,0,0,5\n"}, ValueError, r"localization.txt:3: expected 5"),
        (
            {"localization": LOC + "a.png,0,0,5,x\n"},
            ValueError,
            r"localization.txt:3: y1 is not an",
        ),
        (
            {"localization": LOC + "z.png,0,0,5,5\n"},
            ValueError,
            r"localization.txt:3: image 'z.png'",
        ),
        ({"localization": "a.png,0,0,19,9\n"}, ValueError, r"image_ids.txt:2: .*localization.txt"),
        (
            {"localization": LOC + "b.png,b_m0.png,b_ignore.png\nb.png,b_m0.png,other.png\n"},
            ValueError,
            r"localization.txt:4: ignore mask 'other.png' on a later mask line",
        ),
        ({"localization": LOC + "b.png,,b_ignore.png\n"}, ValueError, r"localization.txt:3: empty"),
        (
            {"localization": LOC + "b.png,nope.png,b_ignore.png\n"},
            FileNotFoundError,
            r"nope.png: mask file not found \(.*localization.txt:3\)",
        ),
    ],
)
def test_bad_metadata_names_file_and_line(valid, files, error, message):
    valid.write(**files)
    with pytest.raises(error, match=message):
        read_split(valid.meta, valid.data, num_classes=3)


def test_missing_metadata_file(valid):
    (valid.meta / "class_labels.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"class_labels.txt: metadata file not found"):
        read_split(valid.meta, valid.data)


def test_missing_image_is_found_at_read_time(valid):
    (valid.data / "b.png").unlink()
    message = re.escape(f"{valid.data / 'b.png'}: image file not found")
    with pytest.raises(FileNotFoundError, match=message + r" \(.*image_ids.txt:2\)"):
        read_split(valid.meta, valid.data)
    assert len(read_split(valid.meta, valid.data, check_files=False)) == 2


def test_writer_refuses_what_the_format_cannot_hold(valid, tmp_path):
    record = read_split(valid.meta, valid.data).records[0]
    with pytest.raises(ValueError, match="is not under"):
        write_split([record], tmp_path / "out", tmp_path / "elsewhere")
