"""A callback that ends training early, as an interruption would (for resume tests)."""

from __future__ import annotations

from lightning.pytorch import Callback


class StopAfterEpoch(Callback):
    """Stop fitting once ``epochs`` training epochs (and their validation) are done."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.current_epoch + 1 >= self.epochs:
            trainer.should_stop = True
