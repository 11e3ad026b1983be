"""The v2 pipelines move boxes and masks together with the image content."""

from __future__ import annotations

import torch
from torchvision import tv_tensors

from wsol.data.dataset import edge_boxes
from wsol.data.transforms import eval_transform, split_per_pixel_tail, train_transform


def scene(size=24, box=(6, 8, 13, 11)):
    """A black image with one white rectangle (inclusive ``box``), its box and its mask."""
    x0, y0, x1, y1 = box
    image = torch.zeros(3, size, size, dtype=torch.uint8)
    image[:, y0 : y1 + 1, x0 : x1 + 1] = 255
    mask = torch.zeros(size, size, dtype=torch.uint8)
    mask[y0 : y1 + 1, x0 : x1 + 1] = 1
    return {
        "image": tv_tensors.Image(image),
        "boxes": edge_boxes([box], (size, size)),
        "mask": tv_tensors.Mask(mask),
    }


def white_extent(image: torch.Tensor) -> list[float]:
    """Edge box [x0, y0, x1 + 1, y1 + 1] of the pixels brighter than half."""
    ys, xs = torch.nonzero(image[0] > 0.5, as_tuple=True)
    return [xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1]


def test_crop_and_flip_move_box_and_mask_with_the_content():
    transform = train_transform(resize=24, crop=18, mean=(0, 0, 0), std=(1, 1, 1))
    flips = set()
    for seed in range(40):
        torch.manual_seed(seed)
        out = transform(scene())
        assert out["image"].shape == (3, 18, 18) and out["image"].dtype == torch.float32
        extent = white_extent(out["image"])
        assert out["boxes"].tolist() == [extent]
        assert torch.equal(out["mask"].bool(), out["image"][0] > 0.5)
        flips.add(extent[0] + extent[2] > 18)  # the rectangle sits left of centre unflipped
    assert flips == {True, False}


def test_resize_scales_edge_boxes_and_masks():
    out = eval_transform(48, mean=(0, 0, 0), std=(1, 1, 1))(scene())
    assert out["boxes"].tolist() == [[12.0, 16.0, 28.0, 24.0]]  # edges x2: [6, 14) → [12, 28)
    expected = torch.zeros(48, 48, dtype=torch.uint8)
    expected[16:24, 12:28] = 1
    assert torch.equal(out["mask"].as_subclass(torch.Tensor), expected)
    assert out["image"][0, 20, 20] > 0.99 and out["image"][0, 2, 2] < 0.01


def test_normalization_uses_mean_and_std():
    out = eval_transform(24, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))(scene())
    assert out["image"].min().item() == -2.0 and out["image"].max().item() == 2.0


def test_per_pixel_tail_on_a_batch_equals_the_pipeline_per_image():
    transform = train_transform(resize=24, crop=18)
    per_sample, tail = split_per_pixel_tail(transform)
    assert [type(t).__name__ for t in tail.transforms] == ["ToDtype", "Normalize"]
    generator = torch.Generator().manual_seed(0)
    images = [
        tv_tensors.Image(torch.randint(0, 256, (3, 24, 24), dtype=torch.uint8, generator=generator))
        for _ in range(5)
    ]
    whole, parts = [], []
    for seed, image in enumerate(images):
        torch.manual_seed(seed)
        whole.append(transform(image))
        torch.manual_seed(seed)
        parts.append(per_sample(image))
    assert all(part.dtype == torch.uint8 for part in parts)
    assert torch.equal(tail(tv_tensors.Image(torch.stack(parts))), torch.stack(whole))
    # A pipeline without that tail runs whole per sample.
    assert split_per_pixel_tail(per_sample) == (per_sample, None)
    assert split_per_pixel_tail(None) == (None, None)
