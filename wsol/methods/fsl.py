"""The few-shot learning (FSL) baseline of the benchmark's table: full supervision for training.

Choe et al. (CVPR 2020; TPAMI 2022) use the small fully supervised split (``train-fullsup``:
the split WSOL methods may only use to choose their hyper-parameters and CAM threshold) to
*train* a localizer instead, with the same (10, 5, 5) images per class on (ImageNet, CUB,
OpenImages), scored on test under the same protocol; in their table it beats every WSOL method.
The network and loss below (a foreground head, per-pixel BCE against filled boxes or masks) are
this implementation's choice: the paper's description of them was not available to check, and
the journal version trains on 80% of the budget and tunes on 20% where this trains on all of it
(docs/methods.md#fsl).

Here: ``FewShotBaseline`` = backbone → Conv1x1(C → 1) foreground logit map (or the
backbone's CAM head with one output channel, e.g. the benchmark's InceptionV3 conv head, when
the experiment file gives one: ``experiment=<data>_<arch>_cam method=fsl``). Training reads the
GT boxes / masks moved with the training augmentation (``loss_targets``); ``method=fsl``
(configs/method/fsl.yaml) trains on the validation split (``data.train_split`` = the val
split, its few-shot subset when ``data.num_val_sample_per_class`` > 0). The validation numbers
are then on the training images (they only pick the CAM threshold of top-1 loc); the test
numbers are the row of the table.

The map is class-agnostic: every class channel holds the foreground probability. The method
has no classifier; its logits are zeros (accuracy and top-1 loc are not defined for it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wsol.methods.base import WSOLMethod
from wsol.methods.outputs import MethodOutput
from wsol.models.base import Backbone
from wsol.models.param_rules import check_lr_rule

IGNORE = 255


def boxes_to_masks(boxes: Sequence[Tensor], height: int, width: int) -> Tensor:
    """Filled-box foreground masks [B, height, width] (float 0/1).

    Args:
        boxes: per image a [K, 4] tensor of XYXY pixel-edge boxes in the image frame (what the
            training transform returns); a pixel is foreground when its centre lies in a box.
        height: rows of the frame.
        width: columns of the frame.
    """
    masks = torch.zeros(len(boxes), height, width)
    ys = torch.arange(height, dtype=torch.float32) + 0.5
    xs = torch.arange(width, dtype=torch.float32) + 0.5
    for index, image_boxes in enumerate(boxes):
        for x0, y0, x1, y1 in torch.as_tensor(image_boxes, dtype=torch.float32).reshape(-1, 4):
            inside_y = (ys >= y0) & (ys <= y1)
            inside_x = (xs >= x0) & (xs <= x1)
            masks[index][inside_y[:, None] & inside_x[None, :]] = 1.0
    return masks


class FewShotBaseline(WSOLMethod):
    """Backbone + Conv1x1 foreground head trained with per-pixel BCE on boxes or masks.

    Args:
        backbone: feature extractor (``out_channels``, learning-rate rules).
        num_classes: K of the (class-agnostic) maps and of the zero logits.
        lr_rule: ``"clean"`` or ``"we"``; the head counts as the benchmark's ``fc`` (new).
        head: optional head factory called as ``head(backbone.out_channels, 1)`` whose forward
            with ``return_maps=True`` gives ``(maps [B, 1, h, w], logits)``; None: Conv1x1.
    """

    head_we_names = {"head": "fc"}
    loss_targets = ("boxes", "masks", "gt_masks")
    extra_maps = {}

    def __init__(
        self,
        backbone: Backbone,
        num_classes: int,
        lr_rule: str = "we",
        head: Callable[[int, int], nn.Module] | None = None,
    ):
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.backbone = backbone
        self.num_classes = int(num_classes)
        self.lr_rule = check_lr_rule(lr_rule)
        if head is None:
            self.head = nn.Conv2d(backbone.out_channels, 1, kernel_size=1)
            nn.init.normal_(self.head.weight, std=0.01)
            nn.init.zeros_(self.head.bias)
        else:
            self.head = head(backbone.out_channels, 1)

    def foreground_logits(self, features: Tensor) -> Tensor:
        """[B, 1, h, w] foreground logit map of the features."""
        if isinstance(self.head, nn.Conv2d):
            return self.head(features)
        maps, _ = self.head(features, return_maps=True)
        return maps

    def forward(self, images: Tensor, labels: Tensor | None = None) -> MethodOutput:
        """Args: images: [B, 3, H, W]; labels: unused.

        Returns:
            zero logits [B, K]; class maps [B, K, h, w]: the foreground probability in every
            class channel (an expanded view); ``aux["foreground_logits"]`` [B, 1, h, w].
        """
        logits_map = self.foreground_logits(self.backbone(images))
        batch, _, height, width = logits_map.shape
        maps = torch.sigmoid(logits_map).expand(batch, self.num_classes, height, width)
        logits = logits_map.new_zeros(batch, self.num_classes)
        return MethodOutput(logits=logits, class_maps=maps, aux={"foreground_logits": logits_map})

    def loss(
        self,
        output: MethodOutput,
        labels: Tensor,
        boxes: Sequence[Tensor] | None = None,
        masks: Tensor | None = None,
        gt_masks: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """Per-pixel BCE of the foreground map (upsampled to the input) against the targets.

        Args:
            output: this method's forward output.
            labels: unused (the map is class-agnostic).
            boxes: per image its GT boxes in the input frame (box data sets).
            masks: [B, H, W] uint8 0/1 with 255 ignored, in the input frame (mask data sets);
                used instead of the boxes when given.
            gt_masks: the same in the evaluation frame (= the input frame of evaluation
                batches: the validation loss), used when ``masks`` is None.

        Returns:
            ``{"loss", "foreground_share"}`` (the share of foreground pixels in the targets).
        """
        logit_map = output.aux["foreground_logits"]
        masks = masks if masks is not None else gt_masks
        if masks is not None:
            height, width = masks.shape[-2:]
            target = masks.to(logit_map.device)
            weight = (target != IGNORE).float()
            target = (target == 1).float()
        elif boxes is not None:
            size = _frame_of(boxes, logit_map)
            height, width = size
            target = boxes_to_masks(boxes, height, width).to(logit_map.device)
            weight = torch.ones_like(target)
        else:
            raise ValueError(
                "method=fsl trains on GT boxes or masks: the training batches carry neither "
                "(set data.train_boxes=true / data.train_masks=true; configs/method/fsl.yaml does)"
            )
        upsampled = F.interpolate(
            logit_map, size=(height, width), mode="bilinear", align_corners=False
        )[:, 0]
        loss = F.binary_cross_entropy_with_logits(
            upsampled, target, weight=weight, reduction="sum"
        ) / weight.sum().clamp(min=1.0)
        share = (target * weight).sum() / weight.sum().clamp(min=1.0)
        return {"loss": loss, "foreground_share": share.detach()}


def _frame_of(boxes: Sequence[Tensor], logit_map: Tensor) -> tuple[int, int]:
    """(height, width) of the input frame the boxes live in (their canvas size)."""
    for image_boxes in boxes:
        canvas = getattr(image_boxes, "canvas_size", None)
        if canvas is not None:
            return int(canvas[0]), int(canvas[1])
    raise ValueError(
        "method=fsl: the training boxes carry no canvas size (expected tv_tensors.BoundingBoxes)"
    )
