"""wsol.cams: from class maps to score maps, the hook manager and the post-hoc extractors.

``extractor = wsol.cams.GradCAM(model, target_layer="layer4")``;
``maps = extractor(images, class_ids)`` → [B, H, W] in [0, 1] at the input resolution.
"""

from wsol.cams.activation import CAM, ScoreCAM
from wsol.cams.extractors import Extractor
from wsol.cams.gradient import GradCAM, GradCAMPlusPlus, LayerCAM, XGradCAM
from wsol.cams.hooks import LayerHooks
from wsol.cams.occlusion import Occlusion
from wsol.cams.saliency import Deconvnet, GuidedBackprop, GuidedGradCAM, Saliency, SmoothGrad

__all__ = [
    "CAM",
    "Deconvnet",
    "Extractor",
    "GradCAM",
    "GradCAMPlusPlus",
    "GuidedBackprop",
    "GuidedGradCAM",
    "LayerCAM",
    "LayerHooks",
    "Occlusion",
    "Saliency",
    "ScoreCAM",
    "SmoothGrad",
    "XGradCAM",
]
