"""Small trees in the data sets' original layouts (CUB, ILSVRC, OpenImages30k, class folders),
each with a missing and a corrupt image, for the converter tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image


def jpeg(path: Path, size: tuple[int, int], seed: int = 0) -> None:
    """A smooth random RGB JPEG of ``size`` (width, height)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (4, 4, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(small).resize(size, Image.BILINEAR).save(path, quality=90)


def corrupt(path: Path) -> None:
    """A file with an image suffix that no decoder reads (a JPEG header, then garbage)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8\xff\xe0" + b"not a jpeg" * 20)


def png_mask(path: Path, size: tuple[int, int], box: tuple[int, int, int, int], rgb=False):
    """A mask PNG of ``size`` (w, h) set inside ``box`` (x0, y0, x1, y1 inclusive)."""
    array = np.zeros((size[1], size[0]), dtype=np.uint8)
    array[box[1] : box[3] + 1, box[0] : box[2] + 1] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(array)
    (image.convert("RGB") if rgb else image.convert("1")).save(path)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def cub_tree(root: Path, per_class: int = 0) -> Path:
    """CUB-200-2011 files for 2 classes: 5 listed images (one missing, one corrupt), plus
    ``per_class`` more good images per class (for training runs)."""
    images = [
        ("001.Albatross/a1.jpg", (40, 30), 1, 1, "2.0 3.0 20.5 10.0"),
        ("001.Albatross/a2.jpg", (50, 20), 1, 0, "0 0 50 20"),  # x + w = width: clipped
        ("002.Bunting/b1.jpg", (30, 30), 2, 1, "5 5 10 10"),
        ("002.Bunting/b2.jpg", None, 2, 0, "1 1 5 5"),  # missing
        ("002.Bunting/b3.jpg", "corrupt", 2, 1, "1 1 5 5"),
    ]
    for k in range(per_class):
        for cls, name in ((1, "001.Albatross"), (2, "002.Bunting")):
            images.append((f"{name}/x{k}.jpg", (48, 40), cls, k % 2, "4 6 30 20"))
    lines = {"images": [], "bounding_boxes": [], "image_class_labels": [], "train_test_split": []}
    for number, (path, size, cls, is_train, box) in enumerate(images, start=1):
        if size == "corrupt":
            corrupt(root / "images" / path)
        elif size is not None:
            jpeg(root / "images" / path, size, seed=number)
        lines["images"].append(f"{number} {path}")
        lines["bounding_boxes"].append(f"{number} {box}")
        lines["image_class_labels"].append(f"{number} {cls}")
        lines["train_test_split"].append(f"{number} {is_train}")
    for name, rows in lines.items():
        write(root / f"{name}.txt", "\n".join(rows) + "\n")
    write(root / "classes.txt", "1 001.Albatross\n2 002.Bunting\n")
    return root


VOC = """<annotation><filename>{name}</filename><size><width>{w}</width><height>{h}</height>
<depth>3</depth></size>{objects}</annotation>"""
OBJECT = (
    "<object><name>{cls}</name><bndbox><xmin>{0}</xmin><ymin>{1}</ymin><xmax>{2}</xmax>"
    "<ymax>{3}</ymax></bndbox></object>"
)


def voc(path: Path, objects, size=(0, 0)) -> None:
    body = "".join(OBJECT.format(*box, cls=cls) for cls, box in objects)
    write(path, VOC.format(name=path.stem, w=size[0], h=size[1], objects=body))


def ilsvrc_tree(root: Path) -> Path:
    """ILSVRC: 3 train class folders; 4 val images with XML (one multi-object, one of two
    classes), one val XML without its image, one val image without XML, one corrupt."""
    for k, wnid in enumerate(("n02", "n01", "n03")):  # sorted order differs from this one
        jpeg(root / "train" / wnid / f"{wnid}_1.JPEG", (32, 24), seed=k)
    corrupt(root / "train" / "n03" / "n03_2.JPEG")
    val, xml = root / "val", root / "val_xml"
    jpeg(val / "v1.JPEG", (60, 40), seed=10)
    voc(xml / "v1.xml", [("n03", (1, 2, 30, 20)), ("n03", (40, 10, 59, 39))])
    jpeg(val / "v2.JPEG", (20, 20), seed=11)
    voc(xml / "v2.xml", [("n01", (0, 0, 25, 19))])  # clipped to x1 = 19
    jpeg(val / "v3.JPEG", (20, 20), seed=12)
    voc(xml / "v3.xml", [("n01", (0, 0, 5, 5)), ("n02", (1, 1, 4, 4))])
    voc(xml / "v4.xml", [("n02", (0, 0, 5, 5))])  # no image
    jpeg(val / "v5.JPEG", (20, 20), seed=13)  # no XML
    corrupt(val / "v6.JPEG")
    voc(xml / "v6.xml", [("n02", (0, 0, 5, 5))])
    return root


def openimages_tree(root: Path) -> Path:
    """OpenImages30k: classes 02b, 01a; train images without masks; test images of different
    sizes with their masks, an ignore mask, a second instance; refused: an image without
    masks, a corrupt mask, a mask of another size than its image, a mask of another class, a
    corrupt image, masks of a missing image."""
    jpeg(root / "train/02b/t1.jpg", (40, 30), seed=1)
    jpeg(root / "train/01a/t2.jpg", (30, 40), seed=2)
    test = root / "test"
    jpeg(test / "01a/i1.jpg", (64, 48), seed=3)
    png_mask(test / "01a/i1_m01a_aa.png", (64, 48), (4, 4, 30, 22))
    png_mask(test / "01a/i1_m01a_bb.png", (64, 48), (40, 20, 60, 40))
    png_mask(test / "01a/i1_ignore.png", (64, 48), (0, 0, 63, 5), rgb=True)
    jpeg(test / "02b/i2.jpg", (37, 53), seed=4)
    png_mask(test / "02b/i2_m02b_cc.png", (37, 53), (10, 10, 30, 45))
    jpeg(test / "02b/i3.jpg", (50, 50), seed=5)  # no mask
    jpeg(test / "02b/i4.jpg", (50, 50), seed=6)
    corrupt(test / "02b/i4_m02b_dd.png")
    jpeg(test / "02b/i5.jpg", (50, 50), seed=7)
    png_mask(test / "02b/i5_m02b_ee.png", (25, 25), (1, 1, 5, 5))  # not the image's size
    jpeg(test / "02b/i6.jpg", (50, 50), seed=8)
    png_mask(test / "02b/i6_m01a_ff.png", (50, 50), (1, 1, 5, 5))  # another class
    corrupt(test / "01a/i7.jpg")
    png_mask(test / "01a/i7_m01a_gg.png", (50, 50), (1, 1, 5, 5))
    png_mask(test / "01a/i8_m01a_hh.png", (50, 50), (1, 1, 5, 5))  # its image is missing
    return root


def folder_tree(root: Path) -> Path:
    """Class folders cat/dog: VOC boxes next to some images, COCO boxes for others, one image
    without boxes, one corrupt; a COCO entry naming a missing file."""
    jpeg(root / "cat/c1.jpg", (40, 40), seed=1)
    voc(root / "cat/c1.xml", [("cat", (2, 3, 20, 30)), ("cat", (25, 25, 39, 39))])
    jpeg(root / "cat/c2.png", (30, 20), seed=2)
    jpeg(root / "dog/d1.jpg", (50, 40), seed=3)
    jpeg(root / "dog/d2.jpg", (50, 40), seed=4)  # no boxes
    corrupt(root / "dog/d3.jpg")
    coco = {
        "images": [
            {"id": 7, "file_name": "cat/c2.png", "width": 30, "height": 20},
            {"id": 8, "file_name": "dog/d1.jpg", "width": 50, "height": 40},
            {"id": 9, "file_name": "dog/gone.jpg", "width": 5, "height": 5},
        ],
        "annotations": [
            {"image_id": 7, "bbox": [1.5, 2.0, 10.0, 30.0], "category_id": 1},
            {"image_id": 8, "bbox": [0, 0, 10, 10], "category_id": 2},
            {"image_id": 8, "bbox": [5, 6, 7, 8], "category_id": 2},
        ],
    }
    write(root.parent / "coco.json", json.dumps(coco))
    return root
