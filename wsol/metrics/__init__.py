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

from wsol.metrics._threads import get_num_threads, set_num_threads
from wsol.metrics.boxes import MaxBoxAcc
from wsol.metrics.collection import WSOLMetrics
from wsol.metrics.keys import result_keys
from wsol.metrics.localization import LocalizationAccuracy
from wsol.metrics.masks import PxAP

__all__ = [
    "LocalizationAccuracy",
    "MaxBoxAcc",
    "PxAP",
    "WSOLMetrics",
    "get_num_threads",
    "result_keys",
    "set_num_threads",
]
