"""Where the benchmark (clovaai/wsolevaluation) puts its ADL layers, and the shapes they see.

Written from reading its ``wsol/vgg.py`` (``configs_dict['adl']``: the layer plan of its VGG16
ADL model, ``'A'`` = an ADL layer), ``wsol/resnet.py`` (``_ADL_POSITION``: ADL after these
block indices of layer1..layer4) and ``wsol/inception.py`` (``InceptionAdl``: ``ADL_5d`` after
Mixed_5d before the extra pool, ``ADL_6e`` after Mixed_6e, ``ADL_A3_2b`` after the head's second
3x3 conv). The plans are data; the shape arithmetic here is this project's own, independent of
``wsol.models``.
"""

from __future__ import annotations

# VGG16 ADL layer plans of the benchmark (14x14 and 28x28 feature maps): ints are 3x3 conv
# widths (each followed by a ReLU), "M" a 2x2/s2 max pool, "A" an ADL layer.
VGG_ADL_PLANS = {
    False: [
        64,
        64,
        "M",
        128,
        128,
        "M",
        256,
        256,
        256,
        "M",
        "A",
        512,
        512,
        512,
        "A",
        "M",
        512,
        512,
        512,
        "A",
    ],
    True: [
        64,
        64,
        "M",
        128,
        128,
        "M",
        256,
        256,
        256,
        "M",
        "A",
        512,
        512,
        512,
        "A",
        512,
        512,
        512,
        "A",
    ],
}
# Which VGG16 stage each of the 13 convs belongs to.
VGG_CONV_STAGES = [1, 1, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5]
# ResNet50: ADL after these block indices of layer1 .. layer4 (index 0 is the stem).
RESNET_ADL_BLOCKS = [[], [], [], [0], [0, 2]]
RESNET50_WIDTHS = {1: 256, 2: 512, 3: 1024, 4: 2048}


def vgg16_adl(size: int, large: bool) -> list[tuple[str, int, int]]:
    """(position name in wsol's VGG16, channels, side) of each benchmark ADL layer, in order."""
    found, channels, side, convs, last = [], 3, size, 0, None
    counts: dict[int, int] = {}
    for item in VGG_ADL_PLANS[large]:
        if item == "M":
            side //= 2
            last = f"pool{VGG_CONV_STAGES[convs - 1]}"
        elif item == "A":
            found.append((last, channels, side))
        else:
            stage = VGG_CONV_STAGES[convs]
            counts[stage] = counts.get(stage, 0) + 1
            convs, channels, last = convs + 1, item, f"conv{stage}_{counts[stage]}"
    return found


def resnet50_adl(size: int, large: bool) -> list[tuple[str, int, int]]:
    """ADL positions of the benchmark's ResNet50: layer3 stride 2 (1 with the large map),
    layer4 stride 1, after a stem of stride 4 and layer2 of stride 2."""
    side_by_layer = {3: size // (8 if large else 16), 4: size // (8 if large else 16)}
    return [
        (f"layer{layer}.{block}", RESNET50_WIDTHS[layer], side_by_layer[layer])
        for layer, blocks in enumerate(RESNET_ADL_BLOCKS)
        for block in blocks
    ]


def _pool(side: int, kernel: int, stride: int, padding: int) -> int:
    """Output side of a ceil-mode max pool."""
    return -(-(side + 2 * padding - kernel) // stride) + 1


def inception_v3_adl(size: int, large: bool) -> list[tuple[str, int, int]]:
    """ADL positions of the benchmark's InceptionV3 (ADL_5d, ADL_6e, ADL_A3_2b)."""
    side = (size + 2 - 3) // 2 + 1  # Conv2d_1a: 3x3, stride 2, pad 1
    side = side - 2  # Conv2d_2a: 3x3, no pad (2b keeps the size)
    side = _pool(side, 3, 2, 1)  # stem pool 1 (ceil)
    side = side - 2  # Conv2d_4a: 3x3, no pad
    side = _pool(side, 3, 2, 1)  # stem pool 2 (ceil)
    mixed_5d = side
    if not large:
        side = _pool(side, 3, 2, 0)  # the extra pool after Mixed_5d
    return [("mixed_5d", 288, mixed_5d), ("mixed_6e", 768, side), ("head.conv2", 1024, side)]


BENCHMARK_ADL = {"vgg16": vgg16_adl, "resnet50": resnet50_adl, "inception_v3": inception_v3_adl}
