"""OpenImages30k (wsolevaluation's layout) → wsolevaluation metadata.

Layout: images ``ROOT/<split>/<class>/<id>.jpg`` for the splits ``train``, ``val``, ``test``;
under the mask root (default ``ROOT``), for each scored image, per-instance 1-bit PNG masks
``<split>/<class>/<id>_m<class>_<hash>.png`` and at most one RGB ``<id>_ignore.png``.
Class index = position of the class folder name in sorted order over all splits. Each image's
mask lines list its instances in file-name order; only the first carries the ignore mask.
``val`` and ``test`` images without any instance mask are refused (they cannot be scored), and
so are masks without their image.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from wsol.data.formats.convert import Candidate, Summary, convert, image_files, relative_id

SPLITS = ("train", "val", "test")
_MASK = re.compile(r"(?P<image>.+)_m(?P<cls>[^_]+)_(?P<hash>[^_]+)\.png")


def _masks_by_image(folder: Path) -> dict[str, list[tuple[str, str]]]:
    """image stem -> [(mask file name, class in the name)] of a mask folder."""
    masks: dict[str, list[tuple[str, str]]] = {}
    if folder.is_dir():
        for path in sorted(folder.glob("*_m*_*.png")):
            match = _MASK.fullmatch(path.name)
            if match:
                masks.setdefault(match["image"], []).append((path.name, match["cls"]))
    return masks


def openimages_candidates(
    root: str | os.PathLike, mask_root: str | os.PathLike | None = None
) -> tuple[list[Candidate], list[tuple[str, str]], list[str]]:
    """(candidates, refused, sorted class names) of an OpenImages30k root."""
    root = Path(root)
    mask_base = Path(mask_root) if mask_root is not None else root
    splits = [s for s in SPLITS if (root / s).is_dir()]
    if not splits:
        raise FileNotFoundError(f"{root}: no {'/'.join(SPLITS)} folder")
    classes = sorted({d.name for s in splits for d in (root / s).iterdir() if d.is_dir()})
    index = {name: i for i, name in enumerate(classes)}
    candidates, refused = [], []
    for split in splits:
        for cls in sorted(d.name for d in (root / split).iterdir() if d.is_dir()):
            masks = _masks_by_image(mask_base / split / cls)
            stems = set()
            for image in image_files(root / split / cls):
                if image.suffix.lower() == ".png" and (
                    _MASK.fullmatch(image.name) or image.stem.endswith("_ignore")
                ):
                    continue  # masks stored next to the images
                image_id = relative_id(image, root)
                stems.add(image.stem)
                found = masks.get(image.stem, [])
                wrong = [name for name, mask_cls in found if mask_cls != cls]
                if wrong:
                    refused.append((image_id, f"mask {wrong[0]} is not of class {cls}"))
                    continue
                ignore = f"{split}/{cls}/{image.stem}_ignore.png"
                candidates.append(
                    Candidate(
                        image_id=image_id,
                        split=split,
                        label=index[cls],
                        masks=tuple(f"{split}/{cls}/{name}" for name, _ in found),
                        ignore=ignore if found and (mask_base / ignore).is_file() else None,
                    )
                )
            for stem in sorted(set(masks) - stems):
                refused.append((f"{split}/{cls}/{stem}", "masks but no image file"))
    return candidates, refused, classes


def prepare_openimages(
    root: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    mask_root: str | os.PathLike | None = None,
    **options,
) -> Summary:
    """Convert an OpenImages30k root. ``options``: ``val_list``, ``workers``, ``progress`` of
    :func:`~wsol.data.formats.convert.convert`."""
    candidates, refused, classes = openimages_candidates(root, mask_root)
    masks = mask_root if mask_root is not None else root
    options.update(refused=refused, class_names=classes)
    return convert(candidates, out_dir, root, masks, **options)
