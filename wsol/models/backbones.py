"""Compatibility names of the registry: ``build_backbone`` and the ``BACKBONES`` view.

Backbones register themselves with ``@register_backbone`` (:mod:`wsol.models.registry`); Hydra
builds one with ``_target_: wsol.models.build_backbone`` and a ``name``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from wsol.models.registry import backbone_entry, build_backbone, registered


class _BackboneNames(Mapping):
    """Read-only name → builder view of the registry (``BACKBONES["vgg16"]``)."""

    def __getitem__(self, name: str):
        return backbone_entry(name).builder

    def __iter__(self) -> Iterator[str]:
        return iter(registered())

    def __len__(self) -> int:
        return len(registered())


BACKBONES = _BackboneNames()

__all__ = ["BACKBONES", "build_backbone"]
