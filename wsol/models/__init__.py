"""wsol.models: backbones in their WSOL form, classifier heads, erasing, weights loading.

The backbone contract (named stages and positions, ``feature_info``, ``forward_stages``) is in
:mod:`wsol.models.base` and :mod:`wsol.models.features`; the registry in
:mod:`wsol.models.registry`.
"""

from wsol.models.backbones import BACKBONES, build_backbone
from wsol.models.base import Backbone
from wsol.models.erasing import erase_above_threshold
from wsol.models.features import FeatureInfo, Segment, TokenOutputs
from wsol.models.heads import ClassMapHead, GAPHead
from wsol.models.param_rules import NewParamRule
from wsol.models.registry import backbone_normalization, register_backbone, registered

__all__ = [
    "BACKBONES",
    "Backbone",
    "ClassMapHead",
    "FeatureInfo",
    "GAPHead",
    "NewParamRule",
    "Segment",
    "TokenOutputs",
    "backbone_normalization",
    "build_backbone",
    "erase_above_threshold",
    "register_backbone",
    "registered",
]
