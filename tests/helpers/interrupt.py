"""A callback that interrupts training as a scheduler or Ctrl+C would (for resume tests)."""

from __future__ import annotations

import os

from lightning.pytorch import Callback


class SignalAt(Callback):
    """Send ``signum`` to this process after batch ``batch`` of training epoch ``epoch``,
    as a scheduler (SIGTERM) or Ctrl+C (SIGINT) would."""

    def __init__(self, epoch: int, batch: int, signum: int = 15) -> None:
        self.epoch, self.batch, self.signum = epoch, batch, signum

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.current_epoch == self.epoch and batch_idx == self.batch:
            os.kill(os.getpid(), self.signum)
