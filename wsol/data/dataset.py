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

from wsol.data.decode import read_image_tensor, read_mask
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


def gt_mask_in_frame(
    record: ImageRecord,
    frame_size: tuple[int, int],
    check_size: bool = True,
    image_size: tuple[int, int] | None = None,
) -> Tensor | None:
    """The protocol's GT mask of a record in the frame (height, width), or None without masks.

    Args:
        check_size: require every instance mask to have the image's size: the
            decoded image's ``image_size`` (height, width) when given, else the size
            image_sizes.txt gives; a mask of another size would be silently stretched onto
            the image. The first mismatch is an error naming image and mask.

    Returns:
        uint8 [H, W]: 0 background, 1 foreground, 255 ignore.
    """
    if not record.has_masks:
        return None
    instances = [read_mask(path) for path in record.mask_paths]
    ignore = read_mask(record.ignore_path) if record.ignore_path is not None else None
    if check_size:
        _check_mask_sizes(record, instances, image_size)
    return mask_to_frame(instances, ignore, (frame_size[1], frame_size[0]))


def _check_mask_sizes(record: ImageRecord, instances: list, image_size) -> None:
    if image_size is not None:
        (height, width), source = image_size, f"{record.image_path} is"
    elif record.size_known:
        height, width = record.height, record.width
        source = f"image_sizes.txt gives {record.image_id!r} as"
    else:
        return
    for path, mask in zip(record.mask_paths, instances, strict=True):
        if tuple(mask.shape) != (height, width):
            raise ValueError(
                f"{source} {width}x{height}, but its mask {path} is {mask.shape[1]}x{mask.shape[0]}"
            )


def decoded_bytes(records: Sequence[ImageRecord]) -> int | None:
    """Memory the decoded uint8 RGB images of ``records`` take (bytes), or None when some image's
    size is not in the metadata (image_sizes.txt)."""
    if not all(record.size_known for record in records):
        return None
    return sum(3 * record.width * record.height for record in records)


def gt_boxes_in_frame(record: ImageRecord, frame_size: tuple[int, int]) -> Tensor:
    """The protocol's GT boxes of a record in the frame (height, width): LongTensor [K, 4]."""
    return boxes_to_frame(record.boxes, record.size, (frame_size[1], frame_size[0]))


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
        skip_bad_images: replace an image that cannot be decoded (or contradicts its
            metadata) by the next usable one and list its error in the sample's ``skipped``;
            False raises the error naming the file. For training only: evaluation must score
            every image.
        cache_images: keep every decoded image (uint8, as decoded and checked) in memory, so
            that later epochs skip reading and decoding the file; the transform (the random
            augmentation included) still runs on every access, so samples are the same with
            and without the cache. Costs ``3 * height * width`` bytes per image, in each
            loader worker (see :func:`decoded_bytes`).

    A sample is a dict: ``image`` (tv_tensors.Image [3, H, W], float and normalized by the
    usual transforms), ``label`` (int), ``boxes`` (tv_tensors.BoundingBoxes [K, 4], XYXY edge
    coordinates moved by the transform, or None), ``mask`` (tv_tensors.Mask [H, W] uint8 0/1/255, or
    None), ``image_id`` (str), ``index`` (int), and with a frame ``gt_boxes`` (LongTensor
    [K, 4], inclusive, eval frame) and ``gt_mask`` (uint8 [H, W] 0/1/255 or None); with
    ``skip_bad_images``, ``skipped`` (list of the errors of the images it replaced).
    """

    def __init__(
        self,
        records: SplitMetadata | Sequence[ImageRecord],
        transform: Callable[[dict], dict] | None = None,
        frame_size: int | tuple[int, int] | None = None,
        load_masks: bool = False,
        with_boxes: bool = True,
        skip_bad_images: bool = False,
        cache_images: bool = False,
    ) -> None:
        self.records = tuple(records.records if isinstance(records, SplitMetadata) else records)
        self.transform = transform
        if isinstance(frame_size, int):
            frame_size = (frame_size, frame_size)
        self.frame_size = tuple(frame_size) if frame_size is not None else None
        self.load_masks = load_masks
        self.with_boxes = with_boxes
        self.skip_bad_images = skip_bad_images
        # Index -> decoded image (cache_images); an unreadable image is never cached.
        self.cache: dict[int, tv_tensors.Image] | None = {} if cache_images else None

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        """Sample ``key``: an index, or ``(index, seed)`` to seed its random augmentation.

        With ``skip_bad_images``, an image that cannot be used is replaced by the next usable
        one and its error is listed in the sample's ``skipped`` (else the error is raised).
        """
        index, seed = key if isinstance(key, tuple) else (key, None)
        skipped: list[str] = []
        for _ in range(len(self.records)):
            try:
                image = self._image(index)
                break
            except (ValueError, OSError) as error:
                if not self.skip_bad_images:
                    raise
                skipped.append(str(error))
                index = (index + 1) % len(self.records)
        else:
            raise ValueError(f"no usable image in the split; first error: {skipped[0]}")
        sample = self._sample(index, image, seed)
        if self.skip_bad_images:
            sample["skipped"] = skipped
        return sample

    def _image(self, index: int) -> tv_tensors.Image:
        """The decoded image of record ``index``, from the cache when it holds it."""
        if self.cache is None:
            return self._decode(self.records[index])
        image = self.cache.get(index)
        if image is None:
            image = self.cache[index] = self._decode(self.records[index])
        return image

    @staticmethod
    def _decode(record: ImageRecord) -> tv_tensors.Image:
        """The record's image, checked against its metadata (size, boxes inside the image)."""
        image = read_image_tensor(record.image_path)
        height, width = image.shape[-2:]
        if record.size_known and (width, height) != (record.width, record.height):
            raise ValueError(
                f"{record.image_path}: image is {width}x{height} but its metadata says "
                f"{record.width}x{record.height}"
            )
        for box in record.boxes:  # checked by the reader when image_sizes.txt gives the size
            if box[2] > width - 1 or box[3] > height - 1:
                raise ValueError(
                    f"{record.image_path}: box {box} of localization.txt is outside the "
                    f"{width}x{height} image"
                )
        return tv_tensors.Image(image)

    def _sample(self, index: int, image: tv_tensors.Image, seed: int | None) -> dict[str, Any]:
        record = self.records[index]
        height, width = image.shape[-2:]
        inputs: dict[str, Any] = {"image": image}
        if self.with_boxes:
            inputs["boxes"] = edge_boxes(record.boxes, (height, width))
        if self.load_masks and record.has_masks:
            inputs["mask"] = tv_tensors.Mask(
                gt_mask_in_frame(record, (height, width), image_size=(height, width))
            )
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
            sample["gt_mask"] = gt_mask_in_frame(
                record, self.frame_size, image_size=(height, width)
            )
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
