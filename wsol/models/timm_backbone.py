"""``backbone=timm``: any timm CNN through ``features_only``, as a WSOL backbone.

timm (an optional extra: ``pip install wsol[timm]``) builds the network with
``features_only=True``; its ``feature_info`` (channels, reduction and module of each stage end)
becomes the backbone contract's stages one to one: stage ``i`` of timm is ``stage<i+1>`` here
(the last one ``final``), and timm's module name (``layer3``, ``stages.2``) is its native name.
There are no in-stage positions: ADL and other inserted layers go at stage boundaries
(``last-1``, ``final``). The input normalization is the model's ``pretrained_cfg``.

Weights (offline by default): ``weights_path`` (a timm-format state dict of the full model, or
the hub's ``model.safetensors``; timm's own filter adapts original checkpoints), else with
``pretrained=True`` the model's file in the Hugging Face or torch hub cache. Nothing is
downloaded unless ``allow_download=True``.

Token models (ViT, DeiT) are :mod:`wsol.models.timm_vit`; a model whose timm feature wrapper
does not run its modules in sequence (hook- or getter-based wrappers) is refused with a message
naming it.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from torch import nn

from wsol.models.base import IMAGENET_MEAN, IMAGENET_STD, Backbone
from wsol.models.features import Segment
from wsol.models.param_rules import NewParamRule
from wsol.models.registry import register_backbone

#: File names timm's hub entries use, in the order timm prefers them.
HUB_FILES = ("model.safetensors", "pytorch_model.bin")


def require_timm():
    """The ``timm`` module; ImportError saying how to install the extra otherwise."""
    if importlib.util.find_spec("timm") is None:
        raise ImportError("backbone=timm needs the timm extra: pip install 'wsol[timm]'")
    import timm

    return timm


def timm_normalization(model_name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) of ``model_name``'s pretrained config (ImageNet's when it has none)."""
    cfg = require_timm().models.get_pretrained_cfg(str(model_name))
    if cfg is None or cfg.mean is None or cfg.std is None:
        return IMAGENET_MEAN, IMAGENET_STD
    return tuple(cfg.mean), tuple(cfg.std)


def adopt_timm_body(backbone: Backbone, body: nn.Module, model_name: str) -> None:
    """Set what every timm-built backbone declares: its timm network, name, normalization
    (the one the data configs read, :func:`timm_normalization`) and learning-rate rules
    (pretrained: everything inside ``body``)."""
    backbone.body = body
    backbone.model_name = str(model_name)
    backbone.mean, backbone.std = timm_normalization(model_name)
    backbone.new_param_rule = NewParamRule()
    backbone.we_new_param_rule = NewParamRule(pretrained_prefixes=("body.",))


def cached_weights(model_name: str) -> Path | None:
    """The model's pretrained file in the Hugging Face hub cache or torch hub cache, if there."""
    timm = require_timm()
    cfg = timm.models.get_pretrained_cfg(model_name)
    if cfg is None:
        return None
    if cfg.hf_hub_id:
        from huggingface_hub import try_to_load_from_cache

        names = (cfg.hf_hub_filename,) if cfg.hf_hub_filename else HUB_FILES
        for name in names:
            found = try_to_load_from_cache(cfg.hf_hub_id, name)
            if isinstance(found, str) and os.path.isfile(found):
                return Path(found)
    if cfg.url:
        import torch

        path = Path(torch.hub.get_dir()) / "checkpoints" / cfg.url.rsplit("/", 1)[-1]
        if path.is_file():
            return path
    return None


def create_timm_model(
    model_name: str,
    pretrained: bool,
    weights_path: str | os.PathLike | None,
    allow_download: bool,
    **kwargs,
) -> nn.Module:
    """``timm.create_model`` with wsol's weights rules (a local file, the cache, or a download
    only when allowed).

    Raises:
        FileNotFoundError: for a missing ``weights_path``.
        RuntimeError: for ``pretrained=True`` offline when the file is not in any cache; the
            message says where it was looked for and how to supply it.
    """
    timm = require_timm()
    path = None
    if weights_path is not None:
        path = Path(weights_path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"backbone.weights_path={str(weights_path)!r}: no such file")
    elif pretrained and not allow_download:
        path = cached_weights(model_name)
        if path is None:
            cfg = timm.models.get_pretrained_cfg(model_name)
            where = (cfg.hf_hub_id or cfg.url) if cfg is not None else "no pretrained config"
            raise RuntimeError(
                f"backbone.model_name={model_name!r}: pretrained weights ({where}) are in neither "
                "the Hugging Face hub cache nor torch hub's; offline, pass "
                "backbone.weights_path=/path/to/the/file, or set backbone.allow_download=true "
                "on a machine with internet"
            )
    if path is not None:  # timm loads the file (weights_only) and applies its own key filter
        overlay = {"file": str(path)}
        return timm.create_model(
            model_name, pretrained=True, pretrained_cfg_overlay=overlay, **kwargs
        )
    return timm.create_model(model_name, pretrained=bool(pretrained), **kwargs)


class TimmBackbone(Backbone):
    """A timm CNN's ``features_only`` network; its stage ends are the contract's stages.

    Attributes:
        body: timm's feature network (``FeatureListNet``); its modules run in order.
        model_name: the timm name (with an optional pretrained tag, ``resnet50.a1_in1k``).

    Learning-rate rules: nothing in the backbone is new under either rule (``we`` has no timm
    backbones; it is the clean rule, the heads new).

    Args:
        model_name: any timm CNN (``resnet50``, ``convnext_tiny``, ``efficientnet_b0`` ...).
        pretrained, weights_path, allow_download: see the module docstring.
        output_stride: timm's ``output_stride`` (16 or 8 dilate the last stages, as the WSOL
            forms of the benchmark backbones keep 14x14 or 28x28 maps at 224 px); None: the
            model's own (usually 32).
        out_indices: which of timm's feature stages to keep (None: all); the last one kept is
            ``final``, the features.
    """

    def __init__(
        self,
        model_name: str,
        pretrained: bool = False,
        weights_path: str | os.PathLike | None = None,
        allow_download: bool = False,
        output_stride: int | None = None,
        out_indices: list[int] | None = None,
    ):
        super().__init__()
        options = {"features_only": True}
        if output_stride is not None:
            options["output_stride"] = int(output_stride)
        if out_indices is not None:
            options["out_indices"] = tuple(int(i) for i in out_indices)
        body = create_timm_model(model_name, pretrained, weights_path, allow_download, **options)
        if not isinstance(body, require_timm().models.FeatureDictNet):
            raise ValueError(
                f"backbone.model_name={model_name!r}: timm builds its features with "
                f"{type(body).__name__}, which does not run its modules in sequence, so wsol "
                "cannot name its stages; use a CNN whose features_only network is a "
                "FeatureListNet (ResNet, ConvNeXt, EfficientNet ...), or a token model through "
                "backbone=timm_vit"
            )
        adopt_timm_body(self, body, model_name)
        info = body.feature_info
        self.timm_channels = tuple(info.channels())
        self.timm_reductions = tuple(info.reduction())
        self.timm_modules = tuple(info.module_name())
        self.out_channels = self.timm_channels[-1]
        self.stride = self.timm_reductions[-1]

    def segments(self) -> list[Segment]:
        """One segment per timm feature stage: the body's modules up to that stage's end."""
        return_layers = self.body.return_layers
        segments, layers = [], []
        for key, module in self.body.items():
            layers.append(module)
            if key not in return_layers:
                continue
            index = len(segments)  # timm returns its stages in running order
            segments.append(
                Segment(
                    (self.timm_modules[index],),
                    layers,
                    self.timm_channels[index],
                    self.timm_reductions[index],
                    f"body.{key}",
                    stage_end=True,
                )
            )
            layers = []
        return segments

    def extra_repr(self) -> str:
        return f"model_name={self.model_name!r}, " + super().extra_repr()


@register_backbone("timm", normalization=timm_normalization)
def timm_cnn(
    model_name: str = "resnet50",
    pretrained: bool = False,
    weights_path: str | os.PathLike | None = None,
    allow_download: bool = False,
    output_stride: int | None = None,
    out_indices: list[int] | None = None,
) -> TimmBackbone:
    """Build a :class:`TimmBackbone` (see its arguments)."""
    return TimmBackbone(
        model_name,
        pretrained=pretrained,
        weights_path=weights_path,
        allow_download=allow_download,
        output_stride=output_stride,
        out_indices=out_indices,
    )
