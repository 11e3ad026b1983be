"""WSOL evaluation metrics, exact to the reference protocol (see docs/protocol.md).

`MaxBoxAcc` (V1 / V2 by arguments), `PxAP` and `LocalizationAccuracy` are torchmetrics
metrics with fixed-size "sum" states; `WSOLMetrics` holds all of them for one split and
feeds them from a single contour sweep per map. `wsol.metrics.functional` holds the pure
core; `result_keys` names the results ``stage/name`` wherever they are logged or saved.

The compiled kernels spread the maps of a batch over several threads (same counts for any
number): by default as many as the CPU cores this process may use; set the environment
variable ``WSOL_METRIC_THREADS`` (e.g. to 1 when several processes share the cores, as in
multi-process DDP on one machine) or call `set_num_threads` to change it.
"""

import importlib

# Public name -> the module that defines it, imported on first use (PEP 562): importing a light
# submodule (``wsol.metrics.keys`` for a config check, the kernels for a warm-up) does not pull in
# torchmetrics and the metric classes, seconds of imports on a small machine.
_EXPORTS = {
    "LocalizationAccuracy": "wsol.metrics.localization",
    "MaxBoxAcc": "wsol.metrics.boxes",
    "PxAP": "wsol.metrics.masks",
    "WSOLMetrics": "wsol.metrics.collection",
    "get_num_threads": "wsol.metrics._threads",
    "result_keys": "wsol.metrics.keys",
    "set_num_threads": "wsol.metrics._threads",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
