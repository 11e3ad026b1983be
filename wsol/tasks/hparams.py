"""A run's hyper-parameters and final metrics in TensorBoard's HParams view, and the value a
sweep optimizes (checked to be a validation metric).

At the end of ``wsol-train`` the resolved config, flattened to dotted keys with scalar values,
and the numbers of metrics.json are written as one HParams session of the run, so the runs of
a sweep (``--multirun``, one TensorBoard run per run directory) compare in one table. Metrics
are logged under ``hparams/<key>`` (e.g. ``hparams/val/maxboxaccv2``) so they do not add
points to the training curves of the same name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from lightning.pytorch.loggers import Logger, TensorBoardLogger
from omegaconf import DictConfig, ListConfig, OmegaConf

#: Top-level config keys that are bookkeeping (folders, monitoring), not hyper-parameters.
EXCLUDED_KEYS = ("hydra", "paths", "extras", "callbacks", "logger")
#: Prefix of the metric tags of the HParams view.
METRIC_PREFIX = "hparams/"


def flat_hparams(cfg: DictConfig, exclude: Iterable[str] = EXCLUDED_KEYS) -> dict:
    """The resolved config as ``{"dotted.key": bool | int | float | str}``.

    Lists become their text (``"[30, 50, 70]"``), None becomes ``"null"``. A node that is an
    interpolation of a whole group (``module.method: ${method}``) is left out: the group is
    listed under its own key. The top-level keys of ``exclude`` and missing values (``???``)
    are left out too.
    """
    excluded = set(exclude)
    flat: dict = {}

    def walk(node: DictConfig, prefix: str) -> None:
        for key in node.keys():
            name = f"{prefix}{key}"
            if (not prefix and key in excluded) or OmegaConf.is_missing(node, key):
                continue
            value = node[key]
            if isinstance(value, DictConfig):
                if not OmegaConf.is_interpolation(node, key):
                    walk(value, f"{name}.")
            elif isinstance(value, ListConfig):
                if not OmegaConf.is_interpolation(node, key):
                    flat[name] = str(OmegaConf.to_container(value, resolve=True))
            elif isinstance(value, bool | int | float | str):
                flat[name] = value
            else:
                flat[name] = "null" if value is None else str(value)

    walk(cfg, "")
    return flat


def log_hparams(loggers: Iterable[Logger], cfg: DictConfig, metrics: Mapping) -> None:
    """Write the HParams session of this run to every TensorBoard logger (rank 0 only).

    Args:
        loggers: the trainer's loggers (others than TensorBoard are skipped).
        cfg: the run's config.
        metrics: final metrics (metrics.json); None values are left out.
    """
    tensorboards = [lg for lg in loggers if isinstance(lg, TensorBoardLogger)]
    if not tensorboards:
        return
    params = flat_hparams(cfg)
    values = {f"{METRIC_PREFIX}{k}": float(v) for k, v in metrics.items() if v is not None}
    for logger in tensorboards:
        logger.log_hyperparams(params, metrics=values)
        logger.finalize("success")


def optimized_metric_name(cfg: DictConfig) -> str | None:
    """``cfg.optimized_metric`` checked before the run (None when not set).

    Raises:
        ValueError: when it is not a validation metric (``val/...``): a sweep selects on the
            validation split, never on test.
    """
    name = cfg.get("optimized_metric")
    if not name:
        return None
    if not str(name).startswith("val/"):
        raise ValueError(
            f"optimized_metric={name!r}: sweeps select on the validation split (val/...), "
            "never on test"
        )
    return str(name)


def optimized_value(name: str | None, metrics: Mapping) -> float | None:
    """The value a sweep optimizes, ``metrics[name]`` (None when no metric is optimized).

    Raises:
        KeyError: naming the metric and the available ones when the run did not produce it.
    """
    if name is None:
        return None
    if metrics.get(name) is None:
        raise KeyError(
            f"optimized_metric={name!r} is not among the run's metrics {sorted(metrics)}"
        )
    return float(metrics[name])
