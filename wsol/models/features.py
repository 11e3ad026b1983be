"""Feature info of a backbone: the named points of its forward pass, with channels and stride.

A backbone runs as a flat list of :class:`Segment` s. Each segment ends at a named *point*: a
place in the forward pass where a method may read the tensor or insert a layer. Some points end a
stage (timm's ``feature_info``); the others are *positions* inside stages (VGG's ``conv4_3``,
ResNet's ``layer3.0``, InceptionV3's ``pool_5``).

Names (:func:`canonical_stage_names`, :meth:`wsol.models.base.Backbone.resolve`):

- canonical stage names ``stage1`` ... ``stage<N-1>`` and ``final`` (also ``stage<N>``), valid on
  every backbone;
- relative selectors ``last`` (= ``final``), ``last-1``, ``last-2``, ... (stages only);
- each point's native names (``block4``, ``layer3``, ``mixed_6``, ``conv4_3``, ``layer4.2``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from torch import Tensor

#: Layouts of the tensor at a point: a feature map [B, C, h, w] or tokens [B, N, C] (turned into
#: a map by the backbone's reshape hook).
LAYOUTS = ("map", "tokens")


@dataclass(frozen=True)
class FeatureInfo:
    """One named point of a backbone's forward pass.

    Attributes:
        name: canonical stage name (``stage2``, ``final``) for a stage end, else the native name.
        channels: C of the map at this point.
        stride: input pixels per map cell at this point (224 px / 16 → 14x14).
        module: path of the module whose output is this point (``backbone.get_submodule``; the
            place for a forward hook). For token points the hook sees tokens, not a map.
        stage: canonical name of the stage this point lies in (its own name for a stage end).
        aliases: the other names that select this point (native names, ``stage<N>``).
        layout: ``"map"`` ([B, C, h, w]) or ``"tokens"`` ([B, N, C]; read and written as a map
            through the backbone's reshape hook).
    """

    name: str
    channels: int
    stride: int
    module: str
    stage: str
    aliases: tuple[str, ...] = ()
    layout: str = "map"

    @property
    def is_stage(self) -> bool:
        """Whether this point ends a stage (it is in ``feature_info``)."""
        return self.stage == self.name

    @property
    def names(self) -> tuple[str, ...]:
        """Every name selecting this point: ``name`` first, then the aliases."""
        return (self.name, *self.aliases)


@dataclass
class Segment:
    """A run of layers ending at a named point (what a backbone's ``segments()`` lists).

    Attributes:
        names: native names of the point after the layers (the first is its position name).
        layers: callables run in order on one tensor.
        channels, stride, module, layout: as :class:`FeatureInfo`.
        stage_end: whether the point ends a stage.
    """

    names: tuple[str, ...]
    layers: Sequence[Callable[[Tensor], Tensor]]
    channels: int
    stride: int
    module: str
    stage_end: bool = False
    layout: str = "map"

    def __post_init__(self) -> None:
        if not self.names:
            raise ValueError(f"segment ending at module {self.module!r} has no name")
        if self.layout not in LAYOUTS:
            raise ValueError(f"segment {self.names[0]!r}: layout must be one of {LAYOUTS}")


@dataclass
class TokenOutputs:
    """One forward pass of a token backbone, with what token methods read besides the map
    (:meth:`wsol.models.base.Backbone.forward_tokens`).

    Attributes:
        features: [B, C, h, w] the final patch tokens as a map (what ``backbone(x)`` gives).
        class_token: [B, C] the final class token (after the final norm).
        attentions: one [B, heads, N, N] softmax attention per block, in running order; rows
            are queries, N = num_prefix + h*w with the prefix tokens first (class token at 0).
        num_prefix: tokens before the patch tokens (class token, distillation/register tokens).
    """

    features: Tensor
    class_token: Tensor
    attentions: tuple[Tensor, ...]
    num_prefix: int


def canonical_stage_names(count: int) -> list[str]:
    """``stage1`` ... ``stage<count-1>``, then ``final``."""
    return [f"stage{i + 1}" for i in range(count - 1)] + ["final"]


def build_feature_info(segments: Sequence[Segment]) -> list[FeatureInfo]:
    """One :class:`FeatureInfo` per segment, in running order, with canonical stage names.

    Raises:
        ValueError: when the last segment does not end a stage, or two points share a name.
    """
    if not segments or not segments[-1].stage_end:
        raise ValueError("a backbone's last segment must end its final stage")
    count = sum(segment.stage_end for segment in segments)
    canonical = canonical_stage_names(count)
    # The stage of each segment: the canonical name of the first stage end at or after it.
    stages, index = [], 0
    for segment in segments:
        stages.append(canonical[index])
        index += segment.stage_end
    infos, seen = [], set()
    for segment, stage in zip(segments, stages, strict=True):
        if segment.stage_end:
            extra = (f"stage{count}",) if stage == "final" else ()
            name, aliases = stage, tuple(n for n in (*segment.names, *extra) if n != stage)
        else:
            name, aliases = segment.names[0], tuple(segment.names[1:])
        info = FeatureInfo(
            name, segment.channels, segment.stride, segment.module, stage, aliases, segment.layout
        )
        for each in info.names:
            if each in seen or each in ("last",) or each.startswith("last-"):
                raise ValueError(f"backbone point name {each!r} is used twice or reserved")
            seen.add(each)
        infos.append(info)
    return infos
