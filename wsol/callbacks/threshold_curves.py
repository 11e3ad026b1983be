"""Box accuracy vs CAM threshold and PxAP's precision-recall curve, logged to TensorBoard.

After each validation epoch of a fit, the epoch's metric curves (``last_val_results["curves"]``
of the lit module) become matplotlib figures (:mod:`wsol.viz.curves`): one line per IoU
threshold of MaxBoxAccV2 plus MaxBoxAcc (V1), the chosen localization threshold marked, and
the PR curve on mask data. The threshold maximizing each V2 curve is logged as a scalar
``val/best_threshold_v2_iou<d>`` (the module itself logs ``val/best_threshold_v1`` and
``val/loc_threshold``). The curves exist only once the module's ``on_validation_epoch_end``
has run, so this works in ``on_validation_end``. Rank 0 only; sanity checks and stand-alone
``trainer.validate`` calls are not logged.
"""

from __future__ import annotations

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.trainer.states import TrainerFn

from wsol.callbacks.tensorboard import tensorboard_writer
from wsol.viz.curves import best_thresholds, curve_figures


class ThresholdCurveLogger(Callback):
    """Logs the validation curves of every validation epoch as TensorBoard figures.

    Args:
        stage: tag prefix (``<stage>/box_accuracy_curve``, ``<stage>/precision_recall_curve``,
            ``<stage>/best_threshold_v2_iou<d>``).
    """

    def __init__(self, stage: str = "val") -> None:
        super().__init__()
        self.stage = stage

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING:
            return
        if not trainer.is_global_zero:
            return
        results = getattr(pl_module, "last_val_results", None)
        if not results or not results.get("curves"):
            return
        writer = tensorboard_writer(trainer, type(self).__name__)
        if writer is None:
            return
        curves = results["curves"]
        ious = [float(d) for d in pl_module.protocol.iou_thresholds]
        step = trainer.global_step
        figures = curve_figures(curves, ious, results, stage=self.stage)
        for name, figure in figures.items():
            writer.add_figure(f"{self.stage}/{name}_curve", figure, global_step=step, close=True)
        if curves.get("box_acc_v2") is not None:
            best = best_thresholds(curves["thresholds"], curves["box_acc_v2"])
            for iou, value in zip(ious, best.tolist(), strict=True):
                writer.add_scalar(
                    f"{self.stage}/best_threshold_v2_iou{iou:g}", value, global_step=step
                )
