"""The backbone contract: named stages, features, their channel count and stride, lr rules."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from torch import Tensor, nn

from wsol.models.param_rules import NewParamRule


class Backbone(nn.Module):
    """Base class of the WSOL backbones: an ordered list of named stages.

    Subclasses set the attributes below in ``__init__`` and implement :meth:`stage_layers`;
    ``forward`` runs the stages in order. A method can act after chosen stages by name
    (``forward_stages(x, after={"block4": layer})``, e.g. ADL) or hook the module that ends a
    stage (:meth:`stage_module`).

    Attributes:
        out_channels: C of the feature map.
        stride: input pixels per feature-map cell (224 px / stride 16 → 14x14).
        new_param_rule: parameters (names local to the backbone) that pretrained weights do not
            cover; the "clean" learning-rate rule trains them at the new-layer rate.
        we_new_param_rule: the rule the wsolevaluation code applied to its whole model (backbone
            names and its head names); the "we" learning-rate rule.
        torchvision_weights: torchvision weights enum name (``"VGG16_Weights.IMAGENET1K_V1"``) for
            ``pretrained=True``; None when there is none.
    """

    out_channels: int
    stride: int
    new_param_rule: NewParamRule = NewParamRule()
    we_new_param_rule: NewParamRule = NewParamRule()
    torchvision_weights: str | None = None

    def stage_layers(self) -> dict[str, list[nn.Module]]:
        """Stage name → the modules it runs, in order; the stages run in dict order."""
        raise NotImplementedError(f"{type(self).__name__} does not name its stages")

    @property
    def stage_names(self) -> tuple[str, ...]:
        """The stage names in running order (the last stage's output is the features)."""
        return tuple(self.stage_layers())

    def stage_module(self, name: str) -> nn.Module:
        """The module whose output is stage ``name``'s output (a place for forward hooks)."""
        return self._layers_of(name)[-1]

    def forward_stages(
        self, x: Tensor, after: Mapping[str, Callable[[Tensor], Tensor]] | None = None
    ) -> dict[str, Tensor]:
        """Run every stage; ``after[name]`` (if given) transforms stage ``name``'s output.

        Args:
            x: [B, 3, H, W] normalized images.
            after: stage name → a layer applied to that stage's output before the next stage.

        Returns:
            Stage name → its output [B, C_s, h_s, w_s] (after ``after``), in running order.

        Raises:
            ValueError: when ``after`` names a stage this backbone does not have.
        """
        stages = self.stage_layers()
        after = dict(after or {})
        unknown = sorted(set(after) - set(stages))
        if unknown:
            raise ValueError(
                f"{type(self).__name__} has no stage {unknown}; its stages: {', '.join(stages)}"
            )
        outputs = {}
        for name, layers in stages.items():
            for layer in layers:
                x = layer(x)
            if name in after:
                x = after[name](x)
            outputs[name] = x
        return outputs

    def forward(self, x: Tensor) -> Tensor:
        """Args: x: [B, 3, H, W] normalized images. Returns: features [B, C, H/stride, W/stride]."""
        for layers in self.stage_layers().values():
            for layer in layers:
                x = layer(x)
        return x

    def _layers_of(self, name: str) -> list[nn.Module]:
        stages = self.stage_layers()
        if name not in stages:
            raise ValueError(
                f"{type(self).__name__} has no stage {name!r}; its stages: {', '.join(stages)}"
            )
        return stages[name]

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
