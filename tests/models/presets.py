"""Build a backbone as configs/backbone/<preset>.yaml does (options included), for tests."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from wsol.models import Backbone, build_backbone

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "backbone"


def build_preset(preset: str, **overrides) -> Backbone:
    """The backbone of ``configs/backbone/<preset>.yaml`` with random weights and ``overrides``."""
    node = OmegaConf.to_container(OmegaConf.load(CONFIGS / f"{preset}.yaml").backbone)
    for key in ("_target_", "pretrained", "weights_path"):
        node.pop(key)
    return build_backbone(**{**node, **overrides})
