"""WSOL evaluation metrics, exact to the reference protocol (see PROTOCOL.md).

`MaxBoxAcc` (V1 / V2 by arguments), `PxAP` and `LocalizationAccuracy` are torchmetrics
metrics with fixed-size "sum" states; `WSOLMetrics` computes all of them for one split
from a single contour sweep per map. `wsol.metrics.functional` holds the pure core.
"""

from wsol.metrics.boxes import MaxBoxAcc
from wsol.metrics.collection import WSOLMetrics
from wsol.metrics.localization import LocalizationAccuracy
from wsol.metrics.masks import PxAP

__all__ = ["LocalizationAccuracy", "MaxBoxAcc", "PxAP", "WSOLMetrics"]
