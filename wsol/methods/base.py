"""The method contract: backbone + head(s) behind one forward pass, its loss, CAMs and extras."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import ClassVar

from torch import Tensor, nn

from wsol.cams.pipeline import pick_class_maps
from wsol.methods.outputs import ExtraMap, MethodOutput
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
        extra_maps: ``MethodOutput.aux`` key → `ExtraMap` (caption, and whether the map is per
            class [B, K, h, w] or one per image [B, 1, h, w] / [B, h, w]); a plain caption
            string means a per-class map. Read through `extra_map` (the one accessor: heatmap
            panel, analyses, predict).
        class_maps_per_image: ``output.class_maps`` is [B, 1, h, w], the map of the class the
            forward pass was asked for (post-hoc explainers), not [B, K, h, w].
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
    extra_maps: ClassVar[Mapping[str, str | ExtraMap]] = {}
    class_maps_per_image: ClassVar[bool] = False
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

    def check_output(self, output: MethodOutput, batch_size: int) -> None:
        """Check the contract's shapes of one forward pass's output (raises ValueError).

        ``logits`` [B, K]; ``class_maps`` [B, K, h, w] (or [B, 1, h, w] when
        ``class_maps_per_image``); each declared extra map present in ``aux`` with its shape.
        """
        name = type(self).__name__
        k = self.num_classes
        logits, maps = output.logits, output.class_maps
        if logits.ndim != 2 or tuple(logits.shape) != (batch_size, k):
            raise ValueError(
                f"{name}.forward: logits must be [B, K] = [{batch_size}, {k}], "
                f"got {tuple(logits.shape)}"
            )
        channels = 1 if self.class_maps_per_image else k
        if maps.ndim != 4 or tuple(maps.shape[:2]) != (batch_size, channels):
            raise ValueError(
                f"{name}.forward: class_maps must be [B, {'1' if channels == 1 else 'K'}, h, w]"
                f" = [{batch_size}, {channels}, h, w], got {tuple(maps.shape)}"
            )
        for key in self.declared_maps():
            if key not in output.aux:
                raise ValueError(f"{name}.extra_maps declares {key!r}, missing from output.aux")
            self._extra_maps_of(output, key)

    def declared_maps(self) -> dict[str, ExtraMap]:
        """``extra_maps`` with every entry as an `ExtraMap` (a caption string: per class)."""
        return {
            key: value if isinstance(value, ExtraMap) else ExtraMap(str(value))
            for key, value in self.extra_maps.items()
        }

    def extra_map(self, output: MethodOutput, key: str, class_ids: Tensor | None) -> Tensor:
        """The one accessor of a declared extra map: [B, h, w] raw (not normalized) maps.

        Args:
            output: the forward pass's output.
            key: a key of ``extra_maps``.
            class_ids: [B] class per image (the GT or the predicted one) for a per-class map;
                ignored for a per-image map.
        """
        maps = self._extra_maps_of(output, key)
        if self.declared_maps()[key].per_class:
            return pick_class_maps(maps, class_ids)
        return maps[:, 0]

    def _extra_maps_of(self, output: MethodOutput, key: str) -> Tensor:
        """``aux[key]`` checked against its declaration: [B, K, h, w] or [B, 1, h, w]."""
        declared = self.declared_maps()
        if key not in declared:
            raise KeyError(f"{type(self).__name__} declares no extra map {key!r}: {list(declared)}")
        maps = output.aux[key].detach()
        per_class = declared[key].per_class
        if not per_class and maps.ndim == 3:
            maps = maps[:, None]
        batch = len(output.logits)
        wanted = (batch, self.num_classes) if per_class else (batch, 1)
        if maps.ndim != 4 or tuple(maps.shape[:2]) != wanted:
            kind = "[B, K, h, w]" if per_class else "[B, 1, h, w] or [B, h, w]"
            raise ValueError(
                f"{type(self).__name__}.extra_maps[{key!r}] is declared "
                f"{'per class' if per_class else 'per image'}: output.aux[{key!r}] must be "
                f"{kind} with B={batch}, K={self.num_classes}, got {tuple(output.aux[key].shape)}"
            )
        return maps

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
