"""The backbone contract: named points (stages and in-stage positions), features, lr rules.

A backbone lists its forward pass as :class:`~wsol.models.features.Segment` s (``segments()``);
everything else is derived here: ``feature_info`` (the stage ends: channels, stride, module),
``positions`` (every named point), name resolution (canonical ``stage1..``/``final``, relative
``last``/``last-1``, native names), and :meth:`Backbone.forward_stages`, which runs the
segments once, applies layers a method inserts at any point and returns the tensors it asks for.
Token backbones (ViT) declare token points and implement the reshape hook
(:meth:`Backbone.tokens_to_map`, :meth:`Backbone.map_to_tokens`); methods only ever see maps,
except through :meth:`Backbone.forward_tokens` (class token and per-block attention), which
token methods such as TS-CAM call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import torch
from torch import Tensor, nn

from wsol.models.features import FeatureInfo, Segment, TokenOutputs, build_feature_info
from wsol.models.param_rules import NewParamRule

#: ImageNet statistics of the [0, 1] image: what torchvision's ImageNet weights were trained on.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Layer = Callable[[Tensor], Tensor]


class Backbone(nn.Module):
    """Base class of the WSOL backbones: a forward pass with named points.

    Subclasses set the attributes below in ``__init__`` and implement :meth:`segments`.

    Attributes:
        out_channels: C of the feature map (the ``final`` point).
        stride: input pixels per feature-map cell (224 px / stride 16 → 14x14).
        mean, std: input normalization of the [0, 1] image that the weights expect; the data
            transforms read them from the backbone's registry entry
            (:func:`wsol.models.registry.backbone_normalization`).
        new_param_rule: parameters (names local to the backbone) that pretrained weights do not
            cover; the "clean" learning-rate rule trains them at the new-layer rate.
        we_new_param_rule: the rule the wsolevaluation code applied to its whole model (backbone
            names and its head names); the "we" learning-rate rule.
        torchvision_weights: torchvision weights enum name (``"VGG16_Weights.IMAGENET1K_V1"``) for
            ``pretrained=True``; None when there is none.
    """

    out_channels: int
    stride: int
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    new_param_rule: NewParamRule = NewParamRule()
    we_new_param_rule: NewParamRule = NewParamRule()
    torchvision_weights: str | None = None

    # ------------------------------------------------------------------ declared by subclasses
    def segments(self) -> list[Segment]:
        """The forward pass as segments, in running order (the last one ends ``final``)."""
        raise NotImplementedError(f"{type(self).__name__} does not list its segments")

    def tokens_to_map(self, tokens: Tensor, info: FeatureInfo) -> Tensor:
        """Reshape hook of token backbones: tokens at point ``info`` → [B, C, h, w]."""
        raise NotImplementedError(f"{type(self).__name__} has no token points")

    def map_to_tokens(self, features: Tensor, tokens: Tensor, info: FeatureInfo) -> Tensor:
        """Inverse reshape hook: a [B, C, h, w] map back into the tokens it came from
        (``tokens``: the tokens before, for the entries that are not on the grid)."""
        raise NotImplementedError(f"{type(self).__name__} has no token points")

    def forward_tokens(self, x: Tensor) -> TokenOutputs:
        """Token backbones with a class token and self-attention: one forward pass returning
        the feature map, the final class token and every block's attention (TS-CAM's inputs).

        Args: x: [B, 3, H, W] normalized images.
        """
        raise NotImplementedError(
            f"{type(self).__name__} gives no class token and attention (forward_tokens); "
            "token backbones that do: timm_vit, vit_b_16"
        )

    @property
    def gives_tokens(self) -> bool:
        """Whether :meth:`forward_tokens` is implemented (class token and attention)."""
        return type(self).forward_tokens is not Backbone.forward_tokens

    # ------------------------------------------------------------------ derived contract
    @property
    def positions(self) -> tuple[FeatureInfo, ...]:
        """Every named point (stage ends and in-stage positions), in running order."""
        return tuple(build_feature_info(self.segments()))

    @property
    def feature_info(self) -> tuple[FeatureInfo, ...]:
        """The stage ends (canonical names ``stage1`` ... ``final``), in running order."""
        return tuple(info for info in self.positions if info.is_stage)

    @property
    def stage_names(self) -> tuple[str, ...]:
        """Canonical stage names in running order (the last one, ``final``, is the features)."""
        return tuple(info.name for info in self.feature_info)

    def resolve(self, name: str) -> FeatureInfo:
        """The point selected by ``name`` (canonical, relative ``last``/``last-k``, or native).

        Raises:
            ValueError: naming the bad name and listing the valid ones.
        """
        return _resolve(self, self.positions, name)

    def stage_module(self, name: str) -> nn.Module:
        """The module whose output is point ``name`` (a place for forward hooks)."""
        return self.get_submodule(self.resolve(name).module)

    def describe_points(self) -> str:
        """One line per point: name, aliases, channels, stride (the printed contract)."""
        lines = []
        for info in self.positions:
            kind = "stage   " if info.is_stage else "position"
            aliases = f" ({', '.join(info.aliases)})" if info.aliases else ""
            lines.append(
                f"{kind} {info.name}{aliases}: C={info.channels} stride={info.stride} "
                f"module={info.module} layout={info.layout}"
            )
        return "\n".join(lines)

    # ------------------------------------------------------------------ running
    def forward_stages(
        self,
        x: Tensor,
        after: Mapping[str, Layer] | None = None,
        read: Iterable[str] = (),
    ) -> dict[str, Tensor]:
        """Run the backbone once, inserting layers at named points and reading any of them.

        Args:
            x: [B, 3, H, W] normalized images.
            after: point name (any name :meth:`resolve` takes) → a layer applied to the tensor
                at that point before the forward pass goes on (ADL, erasing, ...). The layer
                gets and returns a map [B, C, h, w], also at token points.
            read: point names whose tensors (after ``after``) to return as well.

        Returns:
            Canonical stage name → its output map [B, C_s, h_s, w_s] for every stage in running
            order (``"final"`` is the features), then each name of ``read`` (as given) → its map.

        Raises:
            ValueError: for a name that selects no point, or two ``after`` names selecting the
                same point.
        """
        segments = self.segments()
        infos = build_feature_info(segments)
        inserted: dict[str, Layer] = {}
        for name, layer in dict(after or {}).items():
            info = _resolve(self, infos, name)
            if info.name in inserted:
                raise ValueError(
                    f"{type(self).__name__}: two layers inserted at point {info.name!r} "
                    f"(names {sorted(n for n in after if _resolve(self, infos, n) is info)})"
                )
            inserted[info.name] = layer
        reads: dict[str, list[str]] = {}
        for name in read:
            reads.setdefault(_resolve(self, infos, name).name, []).append(name)
        outputs: dict[str, Tensor] = {}
        for segment, info in zip(segments, infos, strict=True):
            for layer in segment.layers:
                x = layer(x)
            if info.name in inserted:
                x = self._apply_at(inserted[info.name], x, info)
            if info.is_stage or info.name in reads:
                as_map = x if info.layout == "map" else self.tokens_to_map(x, info)
                if info.is_stage:
                    outputs[info.name] = as_map
                for name in reads.get(info.name, ()):
                    outputs[name] = as_map
        return outputs

    def _apply_at(self, layer: Layer, x: Tensor, info: FeatureInfo) -> Tensor:
        if info.layout == "map":
            return layer(x)
        return self.map_to_tokens(layer(self.tokens_to_map(x, info)), x, info)

    def check_input_size(self, size: int, key: str) -> None:
        """Refuse an input side this network cannot turn into a usable map, naming ``key``.

        One forward pass of a [1, 3, size, size] zero image, in evaluation mode and without
        gradients (the training mode is restored): a side too small for a kernel or a pool
        fails there, and a 1-cell-wide feature map makes every CAM constant (scored as zeros),
        so at least 2x2 cells are required.

        Raises:
            ValueError: naming ``key``, the size and this backbone.
        """
        name = type(self).__name__
        parameter = next(self.parameters(), None)
        image = torch.zeros(1, 3, int(size), int(size), device=getattr(parameter, "device", None))
        training = self.training
        try:
            with torch.no_grad():
                features = self.eval()(image)
        except (RuntimeError, ValueError) as error:
            raise ValueError(
                f"{key}={size}: too small an input for {name} ({str(error).splitlines()[0]})"
            ) from error
        finally:
            self.train(training)
        height, width = features.shape[-2:]
        if min(height, width) < 2:
            raise ValueError(
                f"{key}={size}: {name} turns it into a {height}x{width} feature map (stride "
                f"{self.stride}); CAMs need at least 2x2 cells, so give at least "
                f"{2 * self.stride}"
            )

    def forward(self, x: Tensor) -> Tensor:
        """Args: x: [B, 3, H, W] normalized images. Returns: features [B, C, H/stride, W/stride]."""
        segments = self.segments()
        for segment in segments:
            for layer in segment.layers:
                x = layer(x)
        if segments[-1].layout != "map":
            x = self.tokens_to_map(x, self.resolve("final"))
        return x

    # ------------------------------------------------------------------ weights, printing
    def adapt_state_dict(self, state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
        """Rename/drop keys of a torchvision-format state dict so they match this module.

        The default keeps every key; subclasses drop classifier keys and re-index layers.
        """
        return dict(state_dict)

    def describe_lr_rules(self) -> str:
        """Printable statement of both learning-rate rules of this backbone."""
        return (
            f"{type(self).__name__}: clean rule {self.new_param_rule} (not pretrained); "
            f"WE rule {self.we_new_param_rule} (on WE's layer names)"
        )

    def extra_repr(self) -> str:
        try:
            stages = ", ".join(self.stage_names)
        except NotImplementedError:
            stages = "unnamed"
        return (
            f"out_channels={self.out_channels}, stride={self.stride}, stages={stages}, "
            f"clean: {self.new_param_rule}, we: {self.we_new_param_rule}"
        )


def _resolve(backbone: nn.Module, infos: tuple[FeatureInfo, ...] | list, name: str) -> FeatureInfo:
    """The point of ``infos`` selected by ``name`` (see :meth:`Backbone.resolve`)."""
    stages = [info for info in infos if info.is_stage]
    if name == "last":
        return stages[-1]
    if isinstance(name, str) and name.startswith("last-") and name[5:].isdigit():
        back = int(name[5:])
        if back < len(stages):
            return stages[-1 - back]
    for info in infos:
        if name in info.names:
            return info
    listed = "; ".join(
        info.name + (f" ({', '.join(info.aliases)})" if info.aliases else "") for info in infos
    )
    raise ValueError(
        f"{type(backbone).__name__} has no point {name!r}; its points (stages, positions, "
        f"aliases): {listed}; or last, last-1 ... last-{len(stages) - 1}"
    )
