"""Subsets of a split for the benchmark's hyper-parameter search.

- :func:`few_shot_subset`: ``num_val_sample_per_class`` images of every class of the validation
  split (the benchmark searches with 10 / 5 / 5 fully supervised images per class on ImageNet /
  CUB / OpenImages). Drawn without replacement by a seeded generator, so every run of a sweep
  selects on the same images; kept in metadata order. A class with fewer images keeps all of
  them (the benchmark's own CUBV2 ``val`` has 3 images of class 58): the subset says so in its
  log line and in :func:`split_summary`, which the run writes into ``metrics.json``.
- :func:`proxy_subset`: the training images listed in the split's ``image_ids_proxy.txt`` (the
  benchmark's ImageNet proxy training set for fast search), one image path per line.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np

from wsol.data.records import SplitMetadata

PROXY_IDS_FILE = "image_ids_proxy.txt"

log = logging.getLogger("wsol")


def few_shot_subset(split: SplitMetadata, per_class: int, seed: int = 0) -> SplitMetadata:
    """``per_class`` randomly drawn images of each class of ``split`` (0: the whole split).

    Args:
        split: records of the split.
        per_class: images kept per class; a class with fewer images keeps all of them (logged
            with the classes and their counts).
        seed: seed of the draw (the same seed gives the same subset).

    Returns:
        The subset, records in the split's order, named ``<name>[<per_class>/class]``.

    Raises:
        ValueError: for a negative count.
    """
    if per_class < 0:
        raise ValueError(f"num_val_sample_per_class must be >= 0, got {per_class}")
    if per_class == 0:
        return split
    by_class: dict[int, list[int]] = defaultdict(list)
    for index, record in enumerate(split.records):
        by_class[record.label].append(index)
    short = {label: len(idx) for label, idx in by_class.items() if len(idx) < per_class}
    generator = np.random.default_rng(seed)
    kept: list[int] = []
    for label in sorted(by_class):
        size = min(per_class, len(by_class[label]))
        kept.extend(generator.choice(by_class[label], size=size, replace=False).tolist())
    records = tuple(split.records[i] for i in sorted(kept))
    subset = replace(split, name=f"{split.name}[{per_class}/class]", records=records)
    detail = ""
    if short:
        listed = ", ".join(f"class {k}: {v}" for k, v in sorted(short.items())[:10])
        more = f" and {len(short) - 10} more" if len(short) > 10 else ""
        detail = (
            f"; {len(short)} class(es) have fewer than {per_class} images and keep all of "
            f"them ({listed}{more})"
        )
    log.info(
        "Few-shot split %s of %s: %d classes, %d images%s",
        subset.name,
        split.metadata_dir,
        len(by_class),
        len(records),
        detail,
    )
    return subset


def split_summary(split: SplitMetadata, key: str) -> dict[str, float]:
    """How many classes and images ``split`` has, as ``metrics.json`` numbers.

    Args:
        split: the split (a few-shot subset or a whole split).
        key: the role of the split in the run (``val``, ``train``, ...).

    Returns:
        ``{"data/<key>_classes": n, "data/<key>_images": m}``.
    """
    classes = len({record.label for record in split.records})
    return {f"data/{key}_classes": float(classes), f"data/{key}_images": float(len(split))}


def proxy_subset(split: SplitMetadata, ids_file: str | Path | None = None) -> SplitMetadata:
    """The records of ``split`` listed in its proxy id file (``image_ids_proxy.txt``).

    Args:
        split: records of the training split.
        ids_file: the id file; default ``<split.metadata_dir>/image_ids_proxy.txt``.

    Raises:
        FileNotFoundError: naming the missing file.
        ValueError: ``path:line`` of an id that is not in the split or repeats.
    """
    path = Path(ids_file) if ids_file is not None else Path(split.metadata_dir) / PROXY_IDS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: proxy training set requested but no such file")
    known = {record.image_id: record for record in split.records}
    chosen: dict[str, int] = {}
    with path.open(encoding="utf-8-sig") as handle:
        for line_number, line in enumerate(handle, start=1):
            image_id = line.strip()
            if not image_id:
                continue
            if image_id not in known:
                raise ValueError(
                    f"{path}:{line_number}: {image_id!r} is not in split {split.name!r}"
                )
            if image_id in chosen:
                raise ValueError(
                    f"{path}:{line_number}: {image_id!r} repeats line {chosen[image_id]}"
                )
            chosen[image_id] = line_number
    if not chosen:
        raise ValueError(f"{path}: the proxy training set lists no image")
    records = tuple(record for record in split.records if record.image_id in chosen)
    return replace(split, name=f"{split.name}[proxy]", records=records)
