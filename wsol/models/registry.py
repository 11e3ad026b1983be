"""The backbone registry: ``@register_backbone("name")`` on a builder, ``build_backbone(name)``.

A builder is a function returning a :class:`~wsol.models.base.Backbone`; its keyword arguments
are the backbone's options (``large_feature_map``, ``widths``, ``pools`` ...). ``build_backbone``
passes an option only to a builder that declares it and names the option otherwise, then loads
the weights. The input normalization a backbone's weights expect is declared once, on the
backbone class (``mean``/``std``), and read by name through :func:`backbone_normalization` (the
``${wsol.backbone_norm:...}`` resolver of the data configs).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from wsol.models.base import IMAGENET_MEAN, IMAGENET_STD, Backbone


@dataclass(frozen=True)
class BackboneEntry:
    """A registered builder and what can be known about it without building it.

    Attributes:
        name: registry name (``backbone.name`` in the configs).
        builder: ``builder(**options) -> Backbone``.
        options: the keyword arguments the builder takes.
        mean, std: input normalization its weights expect.
        normalization: for a builder whose weights (and so normalization) depend on an option,
            ``normalization(*values) -> (mean, std)`` of that option's values (timm's model
            name); None: ``mean``/``std`` hold for every build.
    """

    name: str
    builder: Callable[..., Backbone]
    options: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    normalization: Callable[..., tuple[tuple[float, ...], tuple[float, ...]]] | None = None


_REGISTRY: dict[str, BackboneEntry] = {}
#: Names that earlier versions registered → what builds the same network now (for the error).
RETIRED = {
    "vgg16_acol": "name=vgg16 with pools=3x3, conv6=false, smoothing=true "
    "(configs/backbone/vgg16_pool3x3.yaml; the same parameter names)",
}
#: Modules whose import registers the package's own backbones.
BUILTIN_MODULES = (
    "wsol.models.tiny",
    "wsol.models.resnet",
    "wsol.models.vgg",
    "wsol.models.inception",
    "wsol.models.vit",
)
#: Modules registering backbones of optional extras, imported when their library is installed.
OPTIONAL_MODULES = {"wsol.models.timm_backbone": "timm", "wsol.models.timm_vit": "timm"}
#: Backbone names those modules register → the extra that installs their library.
OPTIONAL_BACKBONES = {"timm": "timm", "timm_vit": "timm"}


def register_backbone(
    name: str,
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
    normalization: Callable[..., tuple[tuple[float, ...], tuple[float, ...]]] | None = None,
) -> Callable[[Callable[..., Backbone]], Callable[..., Backbone]]:
    """Decorator registering a backbone builder under ``name``.

    Args:
        name: the registry name.
        mean, std: input normalization of the [0, 1] image its weights expect (ImageNet's for
            torchvision weights).
        normalization: see :class:`BackboneEntry` (the configs pass the option values as extra
            resolver arguments: ``${wsol.backbone_norm:mean,timm,${backbone.model_name}}``).

    Raises:
        ValueError: when ``name`` is already registered by another builder.
    """

    def decorate(builder: Callable[..., Backbone]) -> Callable[..., Backbone]:
        known = _REGISTRY.get(name)
        if known is not None and known.builder is not builder:
            raise ValueError(
                f"backbone {name!r} is registered twice: {known.builder.__module__}."
                f"{known.builder.__qualname__} and {builder.__module__}.{builder.__qualname__}"
            )
        options = tuple(
            p.name
            for p in inspect.signature(builder).parameters.values()
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
        )
        _REGISTRY[name] = BackboneEntry(
            name, builder, options, tuple(mean), tuple(std), normalization
        )
        return builder

    return decorate


def _load_builtins() -> None:
    for module in BUILTIN_MODULES:
        importlib.import_module(module)
    for module, library in OPTIONAL_MODULES.items():
        if importlib.util.find_spec(library) is not None:
            importlib.import_module(module)


def registered() -> Mapping[str, BackboneEntry]:
    """Name → entry of every registered backbone (the package's own are imported first)."""
    _load_builtins()
    return dict(_REGISTRY)


def backbone_entry(name: str) -> BackboneEntry:
    """The entry of ``name``; ValueError listing the known names otherwise (or naming the extra
    that installs an optional backbone's library)."""
    entries = registered()
    if name not in entries and name in OPTIONAL_BACKBONES:
        extra = OPTIONAL_BACKBONES[name]
        raise ValueError(f"backbone {name!r} needs the {extra} extra: pip install 'wsol[{extra}]'")
    if name in RETIRED and name not in entries:
        raise ValueError(f"backbone name {name!r} is retired: use {RETIRED[name]}")
    if name not in entries:
        raise ValueError(f"unknown backbone name {name!r}; known: {', '.join(sorted(entries))}")
    return entries[name]


def backbone_normalization(which: str, name: str | None, *values) -> list[float]:
    """``mean`` or ``std`` of backbone ``name`` (ImageNet's when ``name`` is None).

    The data configs read it as ``${wsol.backbone_norm:mean,${oc.select:backbone.name,null}}``,
    so the transforms normalize as the weights expect, declared in one place. A backbone whose
    normalization depends on an option (``BackboneEntry.normalization``) takes that option's
    values after the name; its config sets ``data.mean``/``data.std`` with them.

    Raises:
        ValueError: for a bad ``which``, or a backbone that needs option values and got none.
    """
    if which not in ("mean", "std"):
        raise ValueError(f"wsol.backbone_norm: first argument must be mean or std, got {which!r}")
    if name is None or name == "":
        return list(IMAGENET_MEAN if which == "mean" else IMAGENET_STD)
    entry = backbone_entry(str(name))
    if entry.normalization is None:
        return list(getattr(entry, which))
    if not values:
        raise ValueError(
            f"wsol.backbone_norm: backbone {name!r} normalizes as its weights say, which depends "
            f"on its options: use ${{wsol.backbone_norm:{which},{name},<option values>}} "
            f"(configs/backbone/{name}.yaml sets data.mean and data.std so)"
        )
    mean, std = entry.normalization(*values)
    return list(mean if which == "mean" else std)


def build_backbone(
    name: str,
    pretrained: bool = False,
    weights_path: str | os.PathLike | None = None,
    **options,
) -> Backbone:
    """Build a registered WSOL backbone and load its weights.

    Args:
        name: a registered name (``registered()``: tiny, resnet18, resnet50, vgg16, inception_v3,
            vit_b_16 ...).
        pretrained: load torchvision's ImageNet weights (from torchvision's cache, else a
            download; offline the error says how to supply the file).
        weights_path: local torchvision-format state dict, loaded with ``weights_only=True``;
            takes precedence over ``pretrained``.
        **options: the builder's own options (``large_feature_map``, tiny's ``widths``, VGG's
            ``pools`` ...); each must be a keyword argument of the builder. A builder that
            takes ``pretrained`` and ``weights_path`` itself loads its weights (timm's).

    Raises:
        ValueError: for an unknown name or option (listing the known ones) or weights that do
            not fit.
    """
    from wsol.models.weights import load_pretrained

    entry = backbone_entry(name)
    unknown = sorted(set(options) - set(entry.options))
    if unknown:
        raise ValueError(
            f"backbone {name!r} takes no option {unknown} (backbone.{unknown[0]} in the config); "
            f"its options: {', '.join(entry.options) or 'none'}"
        )
    own_weights = {"pretrained", "weights_path"} <= set(entry.options)
    if own_weights:  # the builder finds and loads its weights itself (timm's loader)
        return entry.builder(pretrained=pretrained, weights_path=weights_path, **options)
    backbone = entry.builder(**options)
    return load_pretrained(backbone, pretrained=pretrained, weights_path=weights_path)
