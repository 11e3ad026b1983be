"""Which parameters are "new" (trained at ``lr * head_lr_mult``): rules and optimizer groups.

Two rules exist per backbone (see docs/methods.md#optimization):

- ``"clean"``: new = every layer that pretrained weights do not cover (VGG's conv6, the heads).
- ``"we"``: the name patterns of the wsolevaluation re-implementation, applied to the names its
  model used (VGG: everything outside ``features.``; ResNet: ``layer4.`` and ``fc.``). Heads are
  matched under their WE names (CAM: ``fc``; ACoL: ``classifier_A``/``classifier_B``), which
  reproduces WE's quirk that ResNet ACoL heads train at 1x while ResNet ``layer4`` gets 10x.

The WE names are an optional mapping: a method module outside the backbone without a WE name
(a new method's layers) is new under both rules, and the printed groups say so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from torch import nn

LR_RULES = ("clean", "we")


@dataclass(frozen=True)
class NewParamRule:
    """A printable rule classifying parameter names as new or pretrained.

    A name is new when it starts with one of ``new_prefixes``, or, when ``pretrained_prefixes``
    is given, when it starts with none of them.

    Attributes:
        new_prefixes: name prefixes that are always new.
        pretrained_prefixes: if not None, every name outside these prefixes is new.
    """

    new_prefixes: tuple[str, ...] = ()
    pretrained_prefixes: tuple[str, ...] | None = None

    def is_new(self, name: str) -> bool:
        """Whether the parameter called ``name`` trains at the new-layer learning rate."""
        if name.startswith(self.new_prefixes):
            return True
        if self.pretrained_prefixes is not None:
            return not name.startswith(self.pretrained_prefixes)
        return False

    def __str__(self) -> str:
        parts = []
        if self.new_prefixes:
            parts.append("names starting with " + " | ".join(self.new_prefixes))
        if self.pretrained_prefixes is not None:
            parts.append("names not starting with " + " | ".join(self.pretrained_prefixes))
        return "new = " + (" or ".join(parts) if parts else "nothing")


@dataclass(frozen=True)
class ParamRole:
    """One trainable parameter of a method and the learning rate class it falls into."""

    name: str
    param: nn.Parameter
    new: bool


def check_lr_rule(lr_rule: str) -> str:
    """Return ``lr_rule`` if it is known, else raise a ValueError naming it."""
    if lr_rule not in LR_RULES:
        raise ValueError(f"lr_rule must be one of {LR_RULES}, got {lr_rule!r}")
    return lr_rule


def classify_params(
    method: nn.Module, lr_rule: str, head_we_names: Mapping[str, str]
) -> list[ParamRole]:
    """Classify every trainable parameter of a backbone + heads method.

    Args:
        method: module with a ``backbone`` attribute (carrying ``new_param_rule`` and
            ``we_new_param_rule``) and head sub-modules named by the keys of ``head_we_names``.
        lr_rule: ``"clean"`` or ``"we"``.
        head_we_names: method attribute name of a head → the name WE gave that layer
            (optional per module: a module without one is new under both rules).

    Returns:
        One role per trainable parameter, in ``named_parameters`` order.

    Raises:
        ValueError: for an unknown rule.
    """
    check_lr_rule(lr_rule)
    backbone = method.backbone
    rule = backbone.new_param_rule if lr_rule == "clean" else backbone.we_new_param_rule
    roles = []
    for name, param in method.named_parameters():
        if not param.requires_grad:
            continue
        owner, _, local = name.partition(".")
        if owner == "backbone":
            new = rule.is_new(local)
        elif owner in head_we_names and lr_rule == "we":
            new = rule.is_new(f"{head_we_names[owner]}.{local}")
        else:
            new = True  # not pretrained: a head or a method's own layer
        roles.append(ParamRole(name=name, param=param, new=new))
    return roles


def param_groups_from_roles(roles: list[ParamRole], lr: float, head_lr_mult: float) -> list[dict]:
    """Optimizer groups ``pretrained`` (``lr``) and ``new`` (``lr * head_lr_mult``).

    Empty groups are left out; every parameter of ``roles`` is in exactly one group.
    """
    groups = []
    for group_name, new, group_lr in (("pretrained", False, lr), ("new", True, lr * head_lr_mult)):
        params = [role.param for role in roles if role.new is new]
        if params:
            groups.append({"name": group_name, "params": params, "lr": group_lr})
    return groups


def describe_roles(roles: list[ParamRole], lr: float, head_lr_mult: float, header: str) -> str:
    """Text listing each group: learning rate, tensor and parameter counts, the modules in it."""
    lines = [header]
    for group_name, new, group_lr in (("pretrained", False, lr), ("new", True, lr * head_lr_mult)):
        members = [role for role in roles if role.new is new]
        count = sum(role.param.numel() for role in members)
        modules: list[str] = []
        for role in members:
            parts = role.name.split(".")
            module = ".".join(parts[:2]) if parts[0] == "backbone" else parts[0]
            if module not in modules:
                modules.append(module)
        lines.append(
            f"  {group_name:<10} lr={group_lr:<10.4g} tensors={len(members):<4d} "
            f"parameters={count:<12,d} {', '.join(modules) or '-'}"
        )
    return "\n".join(lines)


def describe_method_groups(
    method: nn.Module,
    lr_rule: str,
    head_we_names: Mapping[str, str],
    lr: float,
    head_lr_mult: float,
) -> str:
    """Printable resolution of a backbone + heads method's groups (see :func:`classify_params`)."""
    roles = classify_params(method, lr_rule, head_we_names)
    backbone = method.backbone
    if lr_rule == "clean":
        header = (
            f"lr_rule='clean': backbone {type(backbone).__name__} {backbone.new_param_rule} "
            f"(not pretrained); heads {sorted(head_we_names)} new"
        )
    else:
        header = (
            f"lr_rule='we': {backbone.we_new_param_rule}, on backbone names and on WE's head "
            f"names {dict(head_we_names)}; other method modules new"
        )
    return describe_roles(roles, lr, head_lr_mult, header)
