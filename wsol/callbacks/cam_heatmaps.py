"""CAM heatmap panel of a fixed set of validation images, logged to TensorBoard.

Every ``every_n_epochs`` validation epochs of a fit, the same ``count`` validation images
(chosen once by dataset index with ``seed``) are drawn as one grid (:mod:`wsol.viz.panel`):
the GT-class score map that the metrics scored, GT boxes, the predicted boxes at the current
best CAM threshold (``loc_threshold`` of that epoch, in the module's localization contour mode)
and the top-1 verdict. Methods that declare more maps (``WSOLMethod.extra_maps``, per class or
per image) get a tile for each of them (GT class; read through the method's one accessor
``WSOLMethod.extra_map``), then one for the scored map.

Everything comes from what ``validation_step`` returned (``on_validation_batch_end``): no
second forward pass. The threshold exists only once the epoch's metrics are computed, after
the callbacks' ``on_validation_epoch_end``, so the panel is drawn in ``on_validation_end``.
Only global rank 0 captures and logs; under DDP the panel is drawn from rank 0's share of
the validation set. Sanity checks and stand-alone ``trainer.validate`` calls are not logged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.trainer.states import TrainerFn

from wsol.callbacks.tensorboard import tensorboard_writer
from wsol.cams.boxes import cam_boxes
from wsol.cams.pipeline import scoremaps as protocol_scoremaps
from wsol.viz.colormap import colormap_lut
from wsol.viz.overlay import denormalize
from wsol.viz.panel import PanelSample, render_panel


class CAMHeatmapLogger(Callback):
    """Logs a panel of CAM heatmaps of fixed validation images to TensorBoard.

    Args:
        count: number of validation images in the panel (fewer if the split is smaller).
        every_n_epochs: draw at the 1st validation epoch of the fit and every n-th after it.
        colormap: matplotlib colormap name of the heatmaps.
        alpha: heatmap weight over the image, in [0, 1].
        seed: seed of the choice of images (fixed for the whole run).
        tag: TensorBoard image tag.
        aux_maps: key → caption of the maps to show as extra tiles, among those the method
            declares (``extra_maps``); None: every declared map with its own caption.
    """

    def __init__(
        self,
        count: int = 8,
        every_n_epochs: int = 1,
        colormap: str = "inferno",
        alpha: float = 0.5,
        seed: int = 0,
        tag: str = "val/cam_heatmaps",
        aux_maps: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        if count < 1:
            raise ValueError(f"callbacks.cam_heatmaps.count must be >= 1, got {count}")
        if every_n_epochs < 1:
            raise ValueError(
                f"callbacks.cam_heatmaps.every_n_epochs must be >= 1, got {every_n_epochs}"
            )
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"callbacks.cam_heatmaps.alpha must be in [0, 1], got {alpha}")
        self.count = int(count)
        self.every_n_epochs = int(every_n_epochs)
        self.lut = colormap_lut(colormap)  # fails early on an unknown colormap name
        self.alpha = float(alpha)
        self.seed = int(seed)
        self.tag = tag
        self.aux_maps = None if aux_maps is None else dict(aux_maps)
        self.panel_indices: list[int] | None = None
        self._validations = 0
        self._active = False
        self._samples: dict[int, PanelSample] = {}

    # ------------------------------------------------------------------ choosing images
    def choose_indices(self, dataset_indices: Sequence[int]) -> list[int]:
        """``count`` of the given dataset indices, drawn with ``seed``, in ascending order."""
        generator = torch.Generator().manual_seed(self.seed)
        order = torch.randperm(len(dataset_indices), generator=generator)[: self.count]
        return sorted(int(dataset_indices[i]) for i in order.tolist())

    @staticmethod
    def _rank_indices(trainer: Trainer) -> list[int]:
        """Dataset indices this process's validation loop loads, in loading order.

        With ``limit_val_batches``, only those of the batches that are run.
        """
        loader = trainer.val_dataloaders
        if isinstance(loader, Sequence):
            loader = loader[0]
        indices = [int(i) for i in iter(loader.sampler)]
        batches = (getattr(trainer, "num_val_batches", None) or [math.inf])[0]
        if math.isfinite(batches) and loader.batch_size:
            indices = indices[: int(batches) * loader.batch_size]
        return indices

    # ------------------------------------------------------------------ hooks
    def on_validation_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._samples.clear()
        self._active = False
        if trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING:
            return
        due = self._validations % self.every_n_epochs == 0
        self._validations += 1
        if not (due and trainer.is_global_zero):
            return
        if self.panel_indices is None:
            self.panel_indices = self.choose_indices(self._rank_indices(trainer))
        self._active = bool(self.panel_indices)

    def on_validation_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: dict,
        batch: dict,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if not self._active:
            return
        wanted = set(self.panel_indices)
        rows = [r for r, i in enumerate(batch["indices"].tolist()) if i in wanted]
        if rows:
            self._capture(trainer, pl_module, outputs, batch, rows)

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not self._active or not self._samples:
            return
        self._active = False
        writer = tensorboard_writer(trainer, type(self).__name__)
        if writer is None:
            return
        threshold = self._threshold(pl_module)
        multi = pl_module.protocol.loc_multi_contour
        samples = [self._samples[i] for i in sorted(self._samples)]
        for sample in samples:
            if threshold is not None and sample.valid:
                sample.pred_boxes = cam_boxes(sample.scoremap, threshold, multi)
        datamodule = trainer.datamodule
        grid = render_panel(
            samples,
            self.lut,
            class_names=getattr(datamodule, "class_names", None),
            threshold=threshold,
            alpha=self.alpha,
        )
        writer.add_image(self.tag, grid, global_step=trainer.global_step, dataformats="CHW")
        self._samples.clear()

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _threshold(pl_module: LightningModule) -> float | None:
        results = getattr(pl_module, "last_val_results", None) or {}
        value = results.get("loc_threshold")
        if value is None or math.isnan(float(value)):
            return None
        return float(value)

    def _declared_maps(self, method) -> dict[str, str]:
        """Key → caption of the extra maps to draw."""
        declared = {key: value.caption for key, value in method.declared_maps().items()}
        if self.aux_maps is None:
            return declared
        unknown = sorted(set(self.aux_maps) - set(declared))
        if unknown:
            raise ValueError(
                f"callbacks.cam_heatmaps.aux_maps: {unknown} are not maps that "
                f"{type(method).__name__} declares (extra_maps: {sorted(declared)})"
            )
        return dict(self.aux_maps)

    def _capture(
        self, trainer: Trainer, pl_module: LightningModule, outputs: dict, batch: dict, rows: list
    ) -> None:
        datamodule = trainer.datamodule
        try:
            mean, std = datamodule.mean, datamodule.std
        except AttributeError as error:
            raise AttributeError(
                f"{type(self).__name__}: the datamodule has no mean/std of its input "
                "normalization (needed to show the images)"
            ) from error
        index = torch.tensor(rows, device=batch["labels"].device)
        output = outputs["output"]
        labels = batch["labels"][index]
        probabilities = output.logits.detach()[index].float().softmax(dim=1)
        top_prob, top_class = probabilities.max(dim=1)
        images = denormalize(batch["images"][index], mean, std)
        scoremaps = outputs["scoremaps"][index].detach().cpu()
        invalid = outputs["invalid"][index].cpu()
        frame = tuple(scoremaps.shape[-2:])
        method = pl_module.method
        extras = {
            caption: protocol_scoremaps(
                method.extra_map(output, key, batch["labels"])[index], frame
            )[0].cpu()
            for key, caption in self._declared_maps(method).items()
        }
        dataset_indices = [int(batch["indices"][r]) for r in rows]
        for n, dataset_index in enumerate(dataset_indices):
            sample_extras = {name: maps[n] for name, maps in extras.items()}
            if sample_extras:
                sample_extras["scored"] = scoremaps[n]
            self._samples[dataset_index] = PanelSample(
                index=dataset_index,
                image=images[n],
                scoremap=scoremaps[n],
                gt_boxes=batch["gt_boxes"][rows[n]].cpu(),
                label=int(labels[n]),
                prediction=int(top_class[n]),
                probability=float(top_prob[n]),
                valid=not bool(invalid[n]),
                extra_maps=sample_extras,
            )
