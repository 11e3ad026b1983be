"""A map-style dataset over image records: decoded image, label, moved boxes and GT targets.

Two kinds of box/mask come out of a sample, on purpose:

- ``boxes`` / ``mask`` went through the (augmenting) transform with the image: for training
  methods that use them and for visual checks.
- ``gt_boxes`` / ``gt_mask`` are the evaluation targets, put into the evaluation frame by the
  protocol's exact rules (:mod:`wsol.data.frame`), never by the transform.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset
from torchvision import tv_tensors

from wsol.data.decode import read_image_rgb, read_mask
from wsol.data.frame import boxes_to_frame, mask_to_frame
from wsol.data.records import ImageRecord, SplitMetadata


def edge_boxes(
    boxes: Sequence[Sequence[int]], canvas_size: tuple[int, int]
) -> tv_tensors.BoundingBoxes:
    """Inclusive integer boxes as continuous XYXY pixel-edge boxes (x1 + 1, y1 + 1).

    In edge coordinates a flip, crop or resize of the image moves the box exactly with the
    pixels it covers.

    Args:
        boxes: [K, 4] inclusive boxes (x0, y0, x1, y1).
        canvas_size: image (height, width).
    """
    data = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    data[:, 2:] += 1
    return tv_tensors.BoundingBoxes(data, format="XYXY", canvas_size=canvas_size)


def gt_mask_in_frame(record: ImageRecord, frame_size: tuple[int, int]) -> Tensor | None:
    """The protocol's GT mask of a record in the frame (height, width), or None without masks.

    Returns:
        uint8 [H, W]: 0 background, 1 foreground, 255 ignore.
    """
    if not record.has_masks:
        return None
    instances = [read_mask(path) for path in record.mask_paths]
    ignore = read_mask(record.ignore_path) if record.ignore_path is not None else None
    return mask_to_frame(instances, ignore, (frame_size[1], frame_size[0]))


def gt_boxes_in_frame(record: ImageRecord, frame_size: tuple[int, int]) -> Tensor:
    """The protocol's GT boxes of a record in the frame (height, width): LongTensor [K, 4]."""
    return boxes_to_frame(
        record.boxes, (record.width, record.height), (frame_size[1], frame_size[0])
    )


class WSOLDataset(Dataset):
    """Samples of one split.

    Args:
        records: the split (or its records) as read by a metadata reader.
        transform: a v2 transform applied to ``{"image", "boxes", "mask"}`` together; None
            leaves the uint8 image as decoded.
        frame_size: evaluation frame (height, width) or a square side; when given, samples
            carry the protocol-exact ``gt_boxes`` and ``gt_mask`` in that frame.
        load_masks: also decode the masks at image resolution and move them with the
            transform (``mask``); off by default (training uses labels only).
        with_boxes: move the boxes with the transform (``boxes``); False gives ``boxes``
            None and saves about 40% of the time of a small image's sample.

    A sample is a dict: ``image`` (tv_tensors.Image [3, H, W], float and normalized by the
    usual transforms), ``label`` (int), ``boxes`` (tv_tensors.BoundingBoxes [K, 4], XYXY edge
    coordinates moved by the transform, or None), ``mask`` (tv_tensors.Mask [H, W] uint8 0/1/255, or
    None), ``image_id`` (str), ``index`` (int), and with a frame ``gt_boxes`` (LongTensor
    [K, 4], inclusive, eval frame) and ``gt_mask`` (uint8 [H, W] 0/1/255 or None).
    """

    def __init__(
        self,
        records: SplitMetadata | Sequence[ImageRecord],
        transform: Callable[[dict], dict] | None = None,
        frame_size: int | tuple[int, int] | None = None,
        load_masks: bool = False,
        with_boxes: bool = True,
    ) -> None:
        self.records = tuple(records.records if isinstance(records, SplitMetadata) else records)
        self.transform = transform
        if isinstance(frame_size, int):
            frame_size = (frame_size, frame_size)
        self.frame_size = tuple(frame_size) if frame_size is not None else None
        self.load_masks = load_masks
        self.with_boxes = with_boxes

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        """Sample ``key``: an index, or ``(index, seed)`` to seed its random augmentation."""
        index, seed = key if isinstance(key, tuple) else (key, None)
        record = self.records[index]
        array = read_image_rgb(record.image_path)
        height, width = array.shape[:2]
        if (width, height) != (record.width, record.height):
            raise ValueError(
                f"{record.image_path}: image is {width}x{height} but its metadata says "
                f"{record.width}x{record.height}"
            )
        image = tv_tensors.Image(torch.from_numpy(array).permute(2, 0, 1))
        inputs: dict[str, Any] = {"image": image}
        if self.with_boxes:
            inputs["boxes"] = edge_boxes(record.boxes, (height, width))
        if self.load_masks and record.has_masks:
            inputs["mask"] = tv_tensors.Mask(gt_mask_in_frame(record, (height, width)))
        if self.transform is not None:
            inputs = self._transform(inputs, seed)
        sample = {
            "image": inputs["image"],
            "label": record.label,
            "boxes": inputs.get("boxes"),
            "mask": inputs.get("mask"),
            "image_id": record.image_id,
            "index": index,
        }
        if self.frame_size is not None:
            sample["gt_boxes"] = gt_boxes_in_frame(record, self.frame_size)
            sample["gt_mask"] = gt_mask_in_frame(record, self.frame_size)
        return sample

    def _transform(self, inputs: dict, seed: int | None) -> dict:
        """Apply the transform; with a seed, its randomness comes from that seed alone."""
        if seed is None:
            return self.transform(inputs)
        with torch.random.fork_rng(devices=[]):
            # The CPU generator only: torch.manual_seed also queues a (lazy) CUDA seeding
            # with a stack trace on every call, about a millisecond per sample.
            torch.default_generator.manual_seed(seed)
            return self.transform(inputs)
