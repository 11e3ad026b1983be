"""The evaluation protocol as one frozen value: the only place that lists its settings.

A `Protocol` holds what a user may choose (``eval`` config group: CAM threshold step, IoU
thresholds of MaxBoxAccV2, contour mode of the localization metrics) and the CAM threshold
chosen on validation (``loc_threshold``). The rules that are not settings are fixed by
docs/protocol.md and applied by the code that owns them: MaxBoxAccV2 boxes from every contour,
MaxBoxAcc (V1) and the loc metrics at IoU 50; score maps bicubic-upsampled to the evaluation
frame and min-max normalized, a map that cannot be (NaN, infinite or constant) scored as
zeros and counted (`wsol.cams.pipeline`); GT masks resized nearest and thresholded at 0.5 and
GT boxes truncated into the frame (`wsol.data.frame`).

The value travels with the model (``WSOLLitModule`` stores it in its hyper-parameters and the
threshold in a buffer) and every consumer takes it: the Lightning steps, ``wsol-eval``,
saved-map scoring, the analyses, the scripts. `SETTINGS` gives each setting's
type, default and rule; config validation (`wsol.configuration.validate`) checks
``eval.<name>`` with the same rules.

    protocol = Protocol.from_dict({"cam_curve_interval": 0.001}, where="eval")
    protocol.to_dict()   # plain data: {"cam_curve_interval": 0.001, "iou_thresholds": [...], ...}
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Setting:
    """One protocol setting: its default, the plain-data cast and the rule a value must fit.

    ``check(value)`` returns None when the value fits, else what is expected (the phrase
    `wsol.configuration.validate` puts after "must be").
    """

    name: str
    default: Any
    expected: str
    fits: Callable[[Any], bool]
    cast: Callable[[Any], Any]
    doc: str

    def check(self, value: Any) -> str | None:
        return None if self.fits(value) else self.expected


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _interval_fits(value: Any) -> bool:
    return _number(value) and 0 < value < 1


def _ious_fit(value: Any) -> bool:
    # Any sequence but a string: lists, tuples, and the ListConfig of a stored Hydra config.
    is_sequence = isinstance(value, Sequence) and not isinstance(value, (str, bytes))
    items = list(value) if is_sequence else None
    return bool(items) and all(
        isinstance(d, int) and not isinstance(d, bool) and 0 < d < 100 for d in items
    )


def _threshold_fits(value: Any) -> bool:
    # NaN is how a buffer says "not chosen yet": read as None.
    return value is None or (_number(value) and (math.isnan(value) or 0 <= value < 1))


#: The protocol's settings (the ``eval`` config group), in order; the one list of them.
SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting(
            "cam_curve_interval",
            0.01,
            "a number in (0, 1)",
            _interval_fits,
            float,
            "CAM threshold step: 0.01 -> 100 thresholds, 0.001 -> 1000",
        ),
        Setting(
            "iou_thresholds",
            (30, 50, 70),
            "a non-empty list, each item an integer in (0, 100)",
            _ious_fit,
            lambda value: tuple(int(d) for d in value),
            "IoU thresholds (percent) averaged by MaxBoxAccV2",
        ),
        Setting(
            "loc_multi_contour",
            False,
            "a bool",
            lambda value: isinstance(value, bool),
            bool,
            "GT-known / top-1 / top-5 loc boxes from every contour (True) or the largest (False)",
        ),
    )
}

_THRESHOLD = Setting(
    "loc_threshold",
    None,
    "a number in [0, 1) or null",
    _threshold_fits,
    lambda value: None if value is None or math.isnan(value) else float(value),
    "CAM threshold of the loc metrics chosen on validation (None: not chosen yet)",
)


@dataclass(frozen=True)
class Protocol:
    """The evaluation protocol of a model (see the module docstring).

    Attributes:
        cam_curve_interval: CAM threshold step (0.01 -> 100 thresholds, 0.001 -> 1000).
        iou_thresholds: IoU thresholds (percent) averaged by MaxBoxAccV2.
        loc_multi_contour: GT-known / top-1 / top-5 loc use every contour's box (V2 style)
            instead of the largest contour's (classic).
        loc_threshold: CAM threshold of the loc metrics, chosen on validation (maximizing
            MaxBoxAcc(50)); None: each split's own optimum is used (and reported).
    """

    cam_curve_interval: float = SETTINGS["cam_curve_interval"].default
    iou_thresholds: tuple[int, ...] = SETTINGS["iou_thresholds"].default
    loc_multi_contour: bool = SETTINGS["loc_multi_contour"].default
    loc_threshold: float | None = None

    #: The settings a user chooses (``eval.<name>``); ``loc_threshold`` is chosen on validation.
    NAMES = tuple(SETTINGS)

    def __post_init__(self) -> None:
        for name, rule in (*SETTINGS.items(), ("loc_threshold", _THRESHOLD)):
            value = getattr(self, name)
            problem = rule.check(list(value) if isinstance(value, tuple) else value)
            if problem:
                raise ValueError(f"protocol {name}: must be {problem}, got {value!r}")
            object.__setattr__(self, name, rule.cast(value) if value is not None else None)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, where: str = "protocol") -> Protocol:
        """A protocol from plain data (a config node, ``to_dict``'s output, a JSON file).

        Missing settings take their default; unknown keys and bad values raise, naming
        ``<where>.<key>``.
        """
        data = dict(data or {})
        known = (*SETTINGS, "loc_threshold")
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"{where}: not protocol settings: {unknown} (known: {list(known)})")
        problems = []
        for name in known:
            rule = SETTINGS.get(name, _THRESHOLD)
            value = data.get(name, rule.default)
            value = list(value) if isinstance(value, tuple) else value
            problem = rule.check(value)
            if problem:
                problems.append(f"{where}.{name}: must be {problem}, got {value!r}")
        if problems:
            raise ValueError("; ".join(problems))
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists, floats, bools, None): JSON and ``weights_only`` checkpoints."""
        out = dataclasses.asdict(self)
        out["iou_thresholds"] = list(self.iou_thresholds)
        return out

    def settings(self) -> dict[str, Any]:
        """The user-chosen settings only (no ``loc_threshold``), as plain data."""
        return {name: value for name, value in self.to_dict().items() if name in SETTINGS}

    def replace(self, **changes: Any) -> Protocol:
        """A copy with ``changes`` (checked like the constructor's arguments)."""
        return Protocol.from_dict({**self.to_dict(), **changes})


__all__ = ["SETTINGS", "Protocol", "Setting"]
