"""Interrupted training runs stop honestly: a resumable ``last.ckpt`` and exit status 128 + signal.

SIGTERM (a scheduler, ``kill``) and SIGINT (Ctrl+C) are caught for the whole of ``wsol-train``.
Inside a Lightning loop the run stops at the next batch boundary (Lightning's own SIGTERM
handling stops there too); then, when at least one optimizer step has run,

- the ``last.ckpt`` written at the end of the latest epoch is kept as the resume point: resuming
  from it redoes the interrupted epoch and gives exactly the uninterrupted run's numbers;
- without one (interrupted during the first epoch), the current state is saved as ``last.ckpt``
  (Lightning resumes it mid-epoch; that epoch's data order then differs from an uninterrupted
  run).

No ``metrics.json`` is written, so ``ckpt_path=last`` sees the run as unfinished. Outside a loop
(data generation, start-up) the signal stops the run at once. A second Ctrl+C stops at once.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

from lightning.pytorch import Callback
from lightning.pytorch.utilities.exceptions import SIGTERMException

log = logging.getLogger("wsol")

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class RunInterrupted(Exception):
    """The run was stopped by a signal; ``exit_code`` is 128 + the signal number."""

    def __init__(self, signum: int, detail: str = "") -> None:
        self.signum = int(signum)
        self.exit_code = 128 + self.signum
        name = signal.Signals(self.signum).name
        super().__init__(f"interrupted by {name}{': ' + detail if detail else ''}")


class SignalCatcher:
    """Context manager recording SIGTERM/SIGINT; raises :class:`RunInterrupted` when not armed.

    Installed before the Trainer runs, so Lightning's own SIGTERM handler (registered for each
    fit/validate/test) calls it too and puts it back afterwards.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self.armed = False
        self._previous: dict[int, object] = {}

    def __enter__(self) -> SignalCatcher:
        if threading.current_thread() is not threading.main_thread():
            return self  # Python delivers signals to the main thread only
        for signum in SIGNALS:
            self._previous[signum] = signal.getsignal(signum)
            signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, frame) -> None:
        if self.signum == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt  # the second Ctrl+C
        if self.signum is None:
            log.warning("Received %s: stopping the run", signal.Signals(signum).name)
        self.signum = self.signum or signum
        if not self.armed:
            raise RunInterrupted(signum, "before training had started")


class InterruptCheckpoint(Callback):
    """Stops a running loop at a batch boundary after a signal and keeps a resumable last.ckpt.

    Args:
        catcher: the :class:`SignalCatcher` of the run.
        last_path: where ``last.ckpt`` lives (``<run>/checkpoints/last.ckpt``).
    """

    def __init__(self, catcher: SignalCatcher, last_path: str | Path) -> None:
        self.catcher = catcher
        self.last_path = Path(last_path)
        self.saved: str | None = None

    def _arm(self, *args) -> None:
        self.catcher.armed = True

    on_fit_start = on_validation_start = on_test_start = _arm

    def teardown(self, trainer, pl_module, stage: str) -> None:
        self.catcher.armed = False

    def _check(self, *args) -> None:
        if self.catcher.signum is not None:
            raise RunInterrupted(self.catcher.signum)

    on_train_batch_end = on_validation_batch_end = on_test_batch_end = _check

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        interrupted = isinstance(exception, (RunInterrupted, SIGTERMException, KeyboardInterrupt))
        if not interrupted or trainer.state.fn != "fit" or trainer.global_step == 0:
            return
        if self.last_path.is_file():
            self.saved = str(self.last_path)
            log.warning("Resume point: %s (end of the latest epoch)", self.last_path)
            return
        trainer.save_checkpoint(self.last_path)
        self.saved = str(self.last_path)
        log.warning(
            "Saved %s mid-epoch (epoch %d, step %d)",
            self.last_path,
            trainer.current_epoch,
            trainer.global_step,
        )
