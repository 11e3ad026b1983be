"""Finding the TensorBoard writer of a run, for callbacks that log images and figures."""

from __future__ import annotations

from lightning.pytorch import Trainer
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_warn


def tensorboard_writer(trainer: Trainer, who: str):
    """The ``SummaryWriter`` of the trainer's first TensorBoardLogger, or None.

    Without a TensorBoard logger (``logger=csv``, ``logger=null``) the callback named ``who``
    has nothing to write to: a warning says so and None comes back.
    """
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            return logger.experiment
    rank_zero_warn(f"{who}: the run has no TensorBoardLogger; nothing is logged")
    return None
