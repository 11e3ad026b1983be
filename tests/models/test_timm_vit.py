"""backbone=timm_vit: timm ViT/DeiT as token backbones (random weights only)."""

from __future__ import annotations

import pytest
import torch

from wsol.models import build_backbone

timm = pytest.importorskip("timm")

#: A small ViT for CPU tests: patch 8, 2 blocks of width 32.
SMALL = {"patch_size": 8, "embed_dim": 32, "depth": 2, "num_heads": 2, "img_size": 32}


def small_vit():
    return build_backbone("timm_vit", model_name="vit_tiny_patch16_224", model_kwargs=SMALL).eval()


def test_stage_specs_equal_timm_feature_info():
    backbone = build_backbone("timm_vit", model_name="deit_tiny_patch16_224")
    reference = timm.create_model("deit_tiny_patch16_224")
    stages = backbone.feature_info
    assert [s.channels for s in stages] == [f["num_chs"] for f in reference.feature_info]
    assert [s.stride for s in stages] == [f["reduction"] for f in reference.feature_info]
    assert [s.aliases[0] for s in stages] == [f["module"] for f in reference.feature_info]
    assert all(s.layout == "tokens" for s in backbone.positions)
    assert backbone.gives_tokens and backbone.out_channels == 192 and backbone.stride == 16


def test_tokens_equal_timms_forward_features():
    backbone = build_backbone("timm_vit", model_name="deit_tiny_patch16_224").eval()
    reference = timm.create_model("deit_tiny_patch16_224", num_classes=0).eval()
    reference.load_state_dict(backbone.body.state_dict())
    images = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        out = backbone.forward_tokens(images)
        tokens = reference.forward_features(images)
    patches = tokens[:, 1:].transpose(1, 2).reshape(2, 192, 14, 14)
    torch.testing.assert_close(out.features, patches)
    torch.testing.assert_close(out.class_token, tokens[:, 0])
    torch.testing.assert_close(backbone(images), patches)
    assert len(out.attentions) == 12 and out.attentions[0].shape == (2, 3, 197, 197)
    assert out.num_prefix == 1
    # The fused kernel is back on after the pass that needed the maps.
    assert all(
        block.attn.fused_attn == reference.blocks[0].attn.fused_attn
        for block in backbone.body.blocks
    )


def test_attention_is_the_softmax_of_each_block():
    backbone = small_vit()
    images = torch.randn(2, 3, 40, 48)
    with torch.no_grad():
        out = backbone.forward_tokens(images)
        tokens = backbone.embed(images)
        for block, attention in zip(backbone.body.blocks, out.attentions, strict=True):
            qkv = block.attn.qkv(block.norm1(tokens)).reshape(2, tokens.shape[1], 3, 2, 16)
            q, k = qkv[:, :, 0].transpose(1, 2), qkv[:, :, 1].transpose(1, 2)
            expected = torch.softmax(q @ k.transpose(-2, -1) / 4.0, dim=-1)  # head_dim 16
            torch.testing.assert_close(attention, expected)
            tokens = block(tokens)
    assert out.features.shape == (2, 32, 5, 6)


def test_a_layer_at_a_token_point_changes_the_patches_and_keeps_the_class_token():
    backbone = small_vit()
    images = torch.randn(1, 3, 32, 32)
    captured = {}
    hook = backbone.stage_module("stage1").register_forward_hook(
        lambda _m, _i, output: captured.setdefault("tokens", output)
    )
    try:
        out = backbone.forward_stages(images, after={"stage1": torch.zeros_like}, read=["stage1"])
    finally:
        hook.remove()
    assert out["stage1"].abs().sum() == 0 and out["final"].shape == (1, 32, 4, 4)
    assert captured["tokens"].shape == (1, 17, 32)


def test_models_that_are_not_vits_are_refused():
    with pytest.raises(ValueError, match="timm VisionTransformer.*backbone=timm"):
        build_backbone("timm_vit", model_name="resnet10t")
    with pytest.raises(ValueError, match="no class token"):
        build_backbone(
            "timm_vit",
            model_name="vit_tiny_patch16_224",
            model_kwargs={**SMALL, "class_token": False, "global_pool": "avg"},
        )
    assert not build_backbone("timm", model_name="resnet10t").gives_tokens
