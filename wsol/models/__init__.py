"""wsol.models: backbones in their WSOL form, classifier heads, erasing, weights loading."""

from wsol.models.backbones import BACKBONES, build_backbone
from wsol.models.base import Backbone
from wsol.models.erasing import erase_above_threshold
from wsol.models.heads import ClassMapHead, GAPHead
from wsol.models.param_rules import NewParamRule

__all__ = [
    "BACKBONES",
    "Backbone",
    "ClassMapHead",
    "GAPHead",
    "NewParamRule",
    "build_backbone",
    "erase_above_threshold",
]
