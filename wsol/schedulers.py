"""Learning-rate schedulers the configs name that torch does not provide.

Kept apart from ``wsol.optim`` (a module stored configs may not name) so that a checkpoint's
stored module config (which names its scheduler) may rebuild it.
"""

from __future__ import annotations

import torch


class BenchmarkStepLR(torch.optim.lr_scheduler.LRScheduler):
    """Step decay at the benchmark's epochs: x ``gamma`` before every epoch whose 1-based index is
    a multiple of ``step_size``.

    The wsolevaluation loop decays before it trains epoch ``e`` (1-based) when
    ``e % lr_decay_frequency == 0``, so with ``step_size=30`` the 30th epoch (0-based 29) already
    runs at 0.1x; torch's ``StepLR`` stepped once per epoch decays one epoch later. Epoch ``i``
    (0-based) runs at ``base_lr * gamma ** ((i + 1) // step_size)``; step this once per epoch.

    Args:
        optimizer: wrapped optimizer.
        step_size: the benchmark's ``lr_decay_frequency`` (epochs).
        gamma: multiplicative decay.
        last_epoch: index of the last epoch when resuming (-1 to start).
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        step_size: int,
        gamma: float = 0.1,
        last_epoch: int = -1,
    ) -> None:
        if int(step_size) < 1:
            raise ValueError(f"BenchmarkStepLR step_size must be >= 1, got {step_size}")
        self.step_size = int(step_size)
        self.gamma = float(gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        decays = (self.last_epoch + 1) // self.step_size
        return [base_lr * self.gamma**decays for base_lr in self.base_lrs]
