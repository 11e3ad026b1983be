"""One LightningModule for every WSOL method: optimizer groups, steps, metrics and logging.

Validation and test take the class maps from the same forward pass as the logits, pick the
ground-truth class (GT-known) and turn them into score maps with the one CAM pipeline
(`wsol.cams.pipeline.scoremaps`) for the protocol metrics: the steps call the one evaluation
entry's per-batch step (`wsol.evaluation.loop.score_batch`) and feed a
`wsol.evaluation.evaluators.ProtocolMetrics` per split. The CAM threshold that maximizes
MaxBoxAcc(50) on validation is kept in a buffer and the other protocol settings in the
hyper-parameters (`WSOLLitModule.protocol`, a `wsol.evaluation.Protocol`), so the whole
protocol travels in the checkpoint:
the test split, ``wsol-eval`` and ``wsol-predict`` use the threshold chosen on validation,
never one chosen on test.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from lightning.pytorch import LightningModule
from lightning.pytorch.utilities import rank_zero_info
from omegaconf import OmegaConf
from torch import Tensor
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from wsol.cams.pipeline import scoremaps
from wsol.evaluation.evaluators import ProtocolMetrics
from wsol.evaluation.loop import score_batch
from wsol.evaluation.protocol import Protocol
from wsol.methods.base import WSOLMethod
from wsol.metrics import result_keys
from wsol.optim import (
    build_scheduler,
    describe_epoch_learning_rates,
    epoch_learning_rates,
)


def plain_container(config: Any) -> dict:
    """A config as plain dicts/lists (Hydra's instantiate turns dict kwargs into DictConfigs,
    which a checkpoint could then only load with pickle, not with ``weights_only=True``)."""
    if config is None:
        return {}
    if OmegaConf.is_config(config):
        return OmegaConf.to_container(config, resolve=True)
    return dict(config)


class WSOLLitModule(LightningModule):
    """Trains a :class:`WSOLMethod` with image labels and evaluates its CAMs with the protocol.

    Args:
        method: the network (backbone + heads) and its loss.
        optimizer: partial optimizer factory (``_partial_: true``); its ``lr`` is the base lr.
        scheduler: optional partial scheduler factory; ``total_steps`` and ``max_lr`` are filled
            in when the scheduler takes them and the config leaves them out (OneCycleLR).
        scheduler_interval: ``"step"`` or ``"epoch"``.
        head_lr_mult: learning-rate multiplier of the new layers (heads, added convs).
        protocol: the evaluation protocol (a `Protocol` or its plain data, the ``eval`` config
            group); its ``loc_threshold``, if given, is the starting value of the buffer that
            each validation then sets.
        channels_last: run the network in NHWC memory layout (faster convolutions).
        run_config: the resolved run configuration as plain containers; stored in the checkpoint so
            ``wsol-eval``/``wsol-predict`` rebuild the same network from the checkpoint alone.
        **protocol_settings: protocol settings given one by one (how checkpoints written before
            the ``protocol`` argument store them); checked by `Protocol.from_dict`.
    """

    def __init__(
        self,
        method: WSOLMethod,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., Any] | None = None,
        scheduler_interval: str = "step",
        head_lr_mult: float = 10.0,
        protocol: Protocol | Mapping | None = None,
        channels_last: bool = True,
        run_config: dict | None = None,
        **protocol_settings,
    ) -> None:
        super().__init__()
        if scheduler_interval not in ("step", "epoch"):
            raise ValueError(
                f"module.scheduler_interval must be 'step' or 'epoch', got {scheduler_interval!r}"
            )
        if protocol is not None and protocol_settings:
            raise ValueError(
                "module: give the protocol as module.protocol, not also "
                f"{sorted(protocol_settings)}"
            )
        if not isinstance(protocol, Protocol):
            protocol = Protocol.from_dict(
                plain_container(protocol) or protocol_settings, where="module.protocol"
            )
        self.save_hyperparameters(
            {
                "run_config": plain_container(run_config),
                "head_lr_mult": float(head_lr_mult),
                "scheduler_interval": scheduler_interval,
                "protocol": protocol.settings(),
                "channels_last": bool(channels_last),
            }
        )
        self.method = method
        if channels_last:
            # NHWC convolutions: about 1.3x faster training of the tiny net on a CPU, and the
            # layout GPUs prefer; numerically a layout change only.
            self.method.to(memory_format=torch.channels_last)
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        num_classes = method.num_classes
        self.train_acc = MulticlassAccuracy(num_classes=num_classes, average="micro")
        self.val_loss = MeanMetric()
        self.last_val_results: dict | None = None
        self.last_test_results: dict | None = None
        # Threshold maximizing MaxBoxAcc(50) on validation; NaN until a validation has run.
        self.register_buffer("loc_threshold", torch.tensor(math.nan, dtype=torch.float64))
        if protocol.loc_threshold is not None:
            self.loc_threshold.fill_(protocol.loc_threshold)
        self.val_metrics = self._make_evaluator(with_masks=False)
        self.test_metrics = self._make_evaluator(with_masks=False)

    @property
    def protocol(self) -> Protocol:
        """The evaluation protocol this module scores with: the settings stored in the
        hyper-parameters and ``loc_threshold`` (the buffer chosen on validation; None before
        one ran). All of it travels in the checkpoint."""
        threshold = float(self.loc_threshold)
        return Protocol.from_dict(
            {**self.hparams.protocol, "loc_threshold": None if math.isnan(threshold) else threshold}
        )

    def set_protocol(self, **settings) -> None:
        """Replace protocol settings (names of `Protocol.NAMES`); the next validate/test
        builds its metrics with them."""
        unknown = set(settings) - set(Protocol.NAMES)
        if unknown:
            raise ValueError(f"not an evaluation protocol setting: {sorted(unknown)}")
        self.hparams["protocol"] = self.protocol.replace(**settings).settings()

    def _make_evaluator(self, with_masks: bool) -> ProtocolMetrics:
        return ProtocolMetrics(self.protocol, with_masks=with_masks)

    # ----------------------------------------------------------------- setup
    def setup(self, stage: str) -> None:
        """Build the evaluation metrics for the splits at hand (PxAP only where masks exist)."""
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer else None
        if datamodule is None or not hasattr(datamodule, "has_masks"):
            return
        if stage in ("fit", "validate"):
            self.val_metrics = self._make_evaluator(datamodule.has_masks(datamodule.val_split))
        if stage == "test":
            self.test_metrics = self._make_evaluator(datamodule.has_masks(datamodule.test_split))

    def network_input(self, images: Tensor) -> Tensor:
        """Images in the network's memory layout (``channels_last``)."""
        if self.hparams.channels_last:
            return images.contiguous(memory_format=torch.channels_last)
        return images

    # ----------------------------------------------------------------- training
    def forward(self, images: Tensor, labels: Tensor | None = None):
        return self.method(self.network_input(images), labels)

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        images, labels = batch["images"], batch["labels"]
        output = self.method(self.network_input(images), labels)
        self.method.check_output(output, len(labels))
        losses = self._method_loss(output, batch)
        self.train_acc(output.logits.detach(), labels)
        batch_size = labels.numel()
        for name, value in losses.items():
            self.log(
                f"train/{name}",
                value,
                on_step=True,
                on_epoch=True,
                batch_size=batch_size,
                prog_bar=name == "loss",
            )
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True, batch_size=batch_size)
        for name, value in self.method.extra_scalars(output).items():
            # What the method declares worth watching (its own numbers, by its own names).
            self.log(
                f"train/{name}",
                value.detach().float(),
                on_step=False,
                on_epoch=True,
                batch_size=batch_size,
            )
        return losses["loss"]

    # ----------------------------------------------------------------- evaluation
    def _evaluate_batch(self, batch: dict, evaluator: ProtocolMetrics) -> dict:
        """GT-known CAMs from one forward pass → protocol score maps → the split's metrics."""
        scored = score_batch(self.method, batch, prepare=self.network_input)
        self.method.check_output(scored.output, len(batch["labels"]))
        evaluator.process(scored)
        return {"output": scored.output, "scoremaps": scored.scoremaps, "invalid": scored.invalid}

    def _method_loss(self, output, batch: dict) -> dict[str, Tensor]:
        """The method's loss of a batch; the batch entries it declares in ``loss_targets``
        (localization targets of fully supervised baselines) are passed by name."""
        targets = {key: batch.get(key) for key in self.method.loss_targets}
        return self.method.loss(output, batch["labels"], **targets)

    def validation_step(self, batch: dict, batch_idx: int) -> dict:
        result = self._evaluate_batch(batch, self.val_metrics)
        loss = self._method_loss(result["output"], batch)["loss"]
        self.val_loss.update(loss, weight=batch["labels"].numel())
        return result

    def on_validation_epoch_end(self) -> None:
        values = self.val_metrics.compute()
        self._log_results("val", values)
        self.log("val/loss", self.val_loss)
        self.last_val_results = values
        if not self.trainer.sanity_checking and values.get("loc_threshold") is not None:
            # Mask-only splits (no boxes) have no localization threshold.
            self.loc_threshold.fill_(float(values["loc_threshold"]))
        self.val_metrics.reset()

    def on_test_epoch_start(self) -> None:
        threshold = self.protocol.loc_threshold
        self.test_metrics.set_threshold(threshold)
        if threshold is None:
            rank_zero_info(
                "No validation threshold in this checkpoint: top-1/GT-known loc on test use "
                "the threshold maximizing MaxBoxAcc(50) on test itself (test/loc_threshold)."
            )

    def test_step(self, batch: dict, batch_idx: int) -> dict:
        return self._evaluate_batch(batch, self.test_metrics)

    def on_test_epoch_end(self) -> None:
        values = self.test_metrics.compute()
        self._log_results("test", values)
        self.last_test_results = values
        self.test_metrics.reset()

    def _log_results(self, stage: str, values: dict) -> None:
        # Metric states are already reduced across processes by torchmetrics.
        self.log_dict(result_keys(stage, values), sync_dist=False, rank_zero_only=False)

    # ----------------------------------------------------------------- prediction
    def predict_step(self, batch: dict, batch_idx: int) -> dict | None:
        """Classes and the top-1 class's maps of unlabeled images (``wsol-predict``).

        Args:
            batch: ``images`` [B, 3, S, S] normalized, or None when no file of the batch
                could be decoded (then there is nothing to predict: None).

        Returns:
            ``probabilities`` [B, K] (softmax), ``cams`` [B, h, w] of the top-1 class,
            ``scoremaps`` [B, S, S] float64 in [0, 1] (the protocol's pipeline, evaluation
            frame), ``invalid`` [B] bool (maps that could not be normalized, all zeros) and
            ``extra_scoremaps``: caption → [B, S, S] of each map the method declares
            (``extra_maps``, top-1 class), through the same pipeline, with
            ``extra_invalid``: caption → [B] bool, as ``invalid``.
        """
        images = batch["images"]
        if images is None:
            return None
        output = self(images)
        self.method.check_output(output, len(images))
        probabilities = output.logits.softmax(dim=1)
        top1 = probabilities.argmax(dim=1)
        cams = self.method.cams(output, top1)
        frame = tuple(images.shape[-2:])
        maps, invalid = scoremaps(cams, frame)
        extras = {
            declared.caption: scoremaps(self.method.extra_map(output, key, top1), frame)
            for key, declared in self.method.declared_maps().items()
        }
        return {
            "probabilities": probabilities,
            "cams": cams,
            "scoremaps": maps,
            "invalid": invalid,
            "extra_scoremaps": {caption: pair[0] for caption, pair in extras.items()},
            "extra_invalid": {caption: pair[1] for caption, pair in extras.items()},
        }

    # ----------------------------------------------------------------- optimization
    def configure_optimizers(self) -> dict:
        base_lr = self.optimizer_factory.keywords.get("lr")
        if base_lr is None:
            raise ValueError("module.optimizer.lr must be set (the base learning rate)")
        head_lr_mult = self.hparams.head_lr_mult
        groups = self.method.param_groups(lr=base_lr, head_lr_mult=head_lr_mult)
        rank_zero_info(
            "Optimizer parameter groups:\n"
            + self.method.describe_param_groups(lr=base_lr, head_lr_mult=head_lr_mult)
        )
        optimizer = self.optimizer_factory(params=groups)
        self._print_schedule(groups)
        if self.scheduler_factory is None:
            return {"optimizer": optimizer}
        scheduler = build_scheduler(
            self.scheduler_factory, optimizer, total_steps=self._total_steps()
        )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": self.hparams.scheduler_interval},
        }

    def _print_schedule(self, groups: list[dict]) -> None:
        """Print the learning rate of every group at the start of every epoch (a dry run)."""
        epochs = self.trainer.max_epochs if self._trainer is not None else None
        if not epochs or epochs < 1:
            return
        steps = self.trainer.estimated_stepping_batches
        steps_per_epoch = 1 if not math.isfinite(steps) else math.ceil(steps / epochs)
        rates = epoch_learning_rates(
            self.optimizer_factory,
            self.scheduler_factory,
            {group["name"]: group["lr"] for group in groups},
            epochs=int(epochs),
            steps_per_epoch=steps_per_epoch,
            interval=self.hparams.scheduler_interval,
        )
        rank_zero_info(describe_epoch_learning_rates(rates))

    def _total_steps(self) -> int:
        if self.hparams.scheduler_interval == "epoch":
            return int(self.trainer.max_epochs)
        return int(self.trainer.estimated_stepping_batches)
