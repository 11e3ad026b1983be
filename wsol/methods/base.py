"""The method contract: backbone + head(s) behind one forward pass, its loss, CAMs and extras."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import ClassVar

from torch import Tensor, nn

from wsol.cams.pipeline import pick_class_maps
from wsol.methods.outputs import MethodOutput
from wsol.models.param_rules import (
    check_lr_rule,
    classify_params,
    describe_method_groups,
    param_groups_from_roles,
)


class WSOLMethod(nn.Module, ABC):
    """Base class of every WSOL method.

    A method is a plain ``nn.Module``; the Lightning module drives it through ``forward``,
    ``loss``, ``cams`` and ``param_groups``, logs what ``extra_scalars`` returns and the
    heatmap callback shows the maps named in ``extra_maps``. Generic code never asks which
    method it holds.

    Attributes:
        num_classes: K, the number of classes of the logits and class maps.
        backbone: the feature extractor (its learning-rate rules drive ``param_groups``).
        lr_rule: ``"clean"`` or ``"we"`` (see :mod:`wsol.models.param_rules`).
        head_we_names: method attribute of each head → the layer name the wsolevaluation
            code gave it (the ``"we"`` learning-rate rule matches its patterns on these).
        extra_maps: ``MethodOutput.aux`` key of a [B, K, h, w] map → caption; the heatmap
            panel shows each (GT class) next to the scored map.
        needs_gradients: its maps take gradients (post-hoc explainers), so evaluation runs
            without Lightning's ``torch.inference_mode()``.
        loss_targets: training-batch keys besides the labels that ``loss`` reads, passed to it
            as keyword arguments of the same name: ``"boxes"`` (GT boxes moved with the
            training augmentation; the data module loads them with ``data.train_boxes``) and
            ``"masks"`` (GT masks moved with it, ``data.train_masks``); in evaluation
            batches (the validation loss) ``"gt_boxes"`` / ``"gt_masks"`` in the evaluation
            frame. Entries a batch lacks are None. Empty for weakly supervised methods.
    """

    num_classes: int
    backbone: nn.Module
    lr_rule: str = "clean"
    needs_gradients: ClassVar[bool] = False
    head_we_names: ClassVar[Mapping[str, str]] = {}
    extra_maps: ClassVar[Mapping[str, str]] = {}
    loss_targets: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def forward(self, images: Tensor, labels: Tensor | None = None) -> MethodOutput:
        """Run the network once.

        Args:
            images: [B, 3, H, W] normalized images.
            labels: [B] class ids used by label-dependent methods (erasing, mixing); None for
                prediction without labels.
        """

    @abstractmethod
    def loss(self, output: MethodOutput, labels: Tensor) -> dict[str, Tensor]:
        """Training loss: key ``"loss"`` (what is optimized) plus its named terms.

        A method with ``loss_targets`` also receives those batch entries as keyword arguments.
        """

    def cams(self, output: MethodOutput, class_ids: Tensor) -> Tensor:
        """Class activation maps [B, h, w] of the given classes, from ``output.class_maps``."""
        return pick_class_maps(output.class_maps, class_ids)

    def extra_scalars(self, output: MethodOutput) -> dict[str, Tensor]:
        """Method-specific 0-dim numbers of one training batch, logged as ``train/<name>``.

        Each value is averaged over the epoch (weighted by batch size), so a per-batch mean
        (a fraction of images, say) reads as the epoch's fraction. The default has none.
        """
        return {}

    def param_groups(self, lr: float, head_lr_mult: float) -> list[dict]:
        """Optimizer parameter groups: dicts with ``name``, ``params`` and ``lr``.

        ``pretrained`` layers get ``lr``; ``new`` layers (under ``self.lr_rule``: the
        backbone's rule, heads in ``head_we_names``) get ``lr * head_lr_mult``. Every trainable
        parameter appears in exactly one group.
        """
        roles = classify_params(self, check_lr_rule(self.lr_rule), self.head_we_names)
        return param_groups_from_roles(roles, lr, head_lr_mult)

    def describe_param_groups(self, lr: float, head_lr_mult: float) -> str:
        """The resolved groups as text: rule, lr, tensor/parameter counts, modules in each."""
        return describe_method_groups(self, self.lr_rule, self.head_we_names, lr, head_lr_mult)
