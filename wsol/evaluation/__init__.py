"""Evaluation: the protocol value and the one evaluation entry.

- :mod:`wsol.evaluation.protocol`: `Protocol`, the frozen value of the evaluation settings
  (the only place that lists them), stored with the checkpoint and passed to every consumer.
- :mod:`wsol.evaluation.loop`: `evaluate` runs a method (or saved maps) over batches and feeds
  evaluators through their ``process``/``compute`` hooks; `score_batch` is its per-batch step,
  also called by the Lightning validation/test steps.
- :mod:`wsol.evaluation.evaluators`: `ProtocolMetrics`, the protocol's metrics as an evaluator.

This package's ``__init__`` imports nothing heavy: config validation reads the protocol's
settings from :mod:`wsol.evaluation.protocol` before torch is needed.
"""

from wsol.evaluation.protocol import Protocol

__all__ = ["Protocol"]
