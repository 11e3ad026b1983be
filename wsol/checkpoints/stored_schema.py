"""What a checkpoint's stored config may build, by key path: the schema of a stored config.

A stored config is data. Only the nodes a checkpoint needs to rebuild its network and data
pipeline may name a ``_target_``, and each only a target of its own kind (:data:`SLOTS`):

===========================================  ==============================================
key path                                     may build
===========================================  ==============================================
``module``                                   ``wsol.lit_module.WSOLLitModule``
``module.method``, ``method``                a ``WSOLMethod`` subclass (any method)
``module.method.backbone``, ``backbone``...  the backbone builder ``wsol.models.build_backbone``
``module.method.<any>``, ``method.<any>``    a head (a ``MapHead`` subclass, a head class of
                                             the package built as ``head(in_channels,
                                             num_classes, ...)``, or :data:`HEAD_FACTORIES`)
``module.optimizer``                         an optimizer of ``configs/module/``
``module.scheduler``                         a scheduler of ``configs/module/``
``data``                                     ``wsol.data.datamodule.WSOLDataModule``
``data.preparer``                            a data preparer of :data:`PREPARERS`
===========================================  ==============================================

Arguments that would download or read weights are forced off when a stored node is rebuilt
(:data:`NO_DOWNLOAD`: the weights come from the checkpoint), and arguments that hold folders
(:attr:`Slot.paths`) are re-rooted under the current data dir
(:mod:`wsol.checkpoints.safe_instantiate`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# torch targets a stored config may name at module.optimizer / module.scheduler.
OPTIMIZERS = frozenset(
    {"torch.optim.SGD", "torch.optim.Adam", "torch.optim.AdamW", "torch.optim.RMSprop"}
)
SCHEDULERS = frozenset(
    {
        "torch.optim.lr_scheduler.StepLR",
        "torch.optim.lr_scheduler.MultiStepLR",
        "torch.optim.lr_scheduler.OneCycleLR",
        "torch.optim.lr_scheduler.CosineAnnealingLR",
        "torch.optim.lr_scheduler.LinearLR",
        "torch.optim.lr_scheduler.ExponentialLR",
    }
)
# The torch targets of both (kept under the old name for readers of the error message).
ALLOWED_TARGETS = OPTIMIZERS | SCHEDULERS

# wsol functions (not classes) admitted as heads / schedulers / preparers, by dotted name.
HEAD_FACTORIES = ("wsol.models.pretrained_head.torchvision_fc_head",)
WSOL_SCHEDULERS = ("wsol.schedulers.BenchmarkStepLR",)
PREPARERS = ("wsol.data.synthetic.preparer.SyntheticPreparer",)
BACKBONE_BUILDER = "wsol.models.build_backbone"

# Arguments set when a stored node is rebuilt, wherever the target takes them: a checkpoint
# carries its weights, so nothing is downloaded or read from a stored weights path.
NO_DOWNLOAD = {"pretrained": False, "weights_path": None}


def _object(dotted: str) -> Any:
    module, _, name = dotted.rpartition(".")
    return getattr(__import__(module, fromlist=[name]), name)


def _is(dotted: tuple[str, ...] | str) -> Callable[[Any], bool]:
    names = (dotted,) if isinstance(dotted, str) else dotted
    return lambda obj: any(obj is _object(name) for name in names)


def _subclass(dotted: str) -> Callable[[Any], bool]:
    return lambda obj: inspect.isclass(obj) and issubclass(obj, _object(dotted))


def _any(*checks: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda obj: any(check(obj) for check in checks)


@dataclass(frozen=True)
class Slot:
    """What the stored node at one key path may build.

    Attributes:
        what: the allowed kind, in words (the refusal names it).
        admits: whether a located target object is allowed here.
        torch_names: dotted torch names allowed here (located only if listed).
        paths: arguments holding folders, re-rooted under the current data dir.
        extra_keys: for a target taking ``**kwargs``: ``extra_keys(node)`` → the keys it takes
            through them (None: any plain value).
    """

    what: str
    admits: Callable[[Any], bool] = field(default=lambda obj: False)
    torch_names: frozenset[str] = frozenset()
    paths: tuple[str, ...] = ()
    extra_keys: Callable[[dict], set[str]] | None = None


def _protocol_settings(node: dict) -> set[str]:
    """Settings WSOLLitModule takes one by one (checkpoints written before ``protocol``)."""
    return set(_object("wsol.evaluation.protocol.SETTINGS"))


def _backbone_options(node: dict) -> set[str]:
    """The options the named backbone's registered builder declares (none if unknown)."""
    entry = _object("wsol.models.registry.registered")().get(str(node.get("name")))
    return set(entry.options) if entry is not None else set()


def _head_class(obj: Any) -> bool:
    """A head class of the package: an ``nn.Module`` of ``wsol.models``/``wsol.methods`` built
    as ``head(in_channels, num_classes, ...)`` (the head contract), not a method."""
    if not inspect.isclass(obj) or not issubclass(obj, _object("torch.nn.Module")):
        return False
    if issubclass(obj, _object("wsol.methods.base.WSOLMethod")):
        return False
    if not obj.__module__.startswith(("wsol.models.", "wsol.methods.")):
        return False
    try:
        names = list(inspect.signature(obj).parameters)
    except (TypeError, ValueError):
        return False
    return names[:2] == ["in_channels", "num_classes"]


_METHOD = Slot("a WSOLMethod subclass", _subclass("wsol.methods.base.WSOLMethod"))
_BACKBONE = Slot(
    f"the backbone builder {BACKBONE_BUILDER}",
    _is(BACKBONE_BUILDER),
    extra_keys=_backbone_options,
)
_HEAD = Slot(
    "a head (a wsol.models.heads.MapHead subclass, a head class of wsol.models/wsol.methods "
    "built as head(in_channels, num_classes, ...), or " + ", ".join(HEAD_FACTORIES) + ")",
    _any(_subclass("wsol.models.heads.MapHead"), _head_class, _is(HEAD_FACTORIES)),
)

SLOTS: dict[str, Slot] = {
    "module": Slot(
        "wsol.lit_module.WSOLLitModule",
        _is("wsol.lit_module.WSOLLitModule"),
        extra_keys=_protocol_settings,
    ),
    "module.method": _METHOD,
    "method": _METHOD,
    "module.method.backbone": _BACKBONE,
    "method.backbone": _BACKBONE,
    "backbone": _BACKBONE,
    "module.method.*": _HEAD,
    "method.*": _HEAD,
    "module.optimizer": Slot("an optimizer of configs/module/", torch_names=OPTIMIZERS),
    "module.scheduler": Slot(
        "a scheduler of configs/module/", _is(WSOL_SCHEDULERS), torch_names=SCHEDULERS
    ),
    "data": Slot(
        "wsol.data.datamodule.WSOLDataModule",
        _subclass("wsol.data.datamodule.WSOLDataModule"),
        paths=("metadata_root", "data_root", "mask_root"),
    ),
    "data.preparer": Slot(
        "a data preparer (" + ", ".join(PREPARERS) + ")", _is(PREPARERS), paths=("root",)
    ),
}


def slot_at(key: str) -> Slot | None:
    """The slot of a key path (``module.method.head``); an exact entry wins over ``*``."""
    if key in SLOTS:
        return SLOTS[key]
    parent, _, _ = key.rpartition(".")
    return SLOTS.get(f"{parent}.*") if parent else None
