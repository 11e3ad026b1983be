"""ViT-B/16 as a token backbone: the reshape hook, torchvision parity, and CAM training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import torchvision
from omegaconf import open_dict

from tests.helpers.small_run import SMALL_RUN
from wsol.models import build_backbone


def test_points_and_maps_at_224_and_96():
    with torch.device("meta"):
        backbone = build_backbone("vit_b_16")
        names = [info.name for info in backbone.positions]
        at_224 = backbone.forward_stages(torch.empty(2, 3, 224, 224), read=names)
        at_96 = backbone(torch.empty(2, 3, 96, 96))
    assert backbone.stage_names == (*(f"stage{k}" for k in range(1, 12)), "final")
    assert backbone.resolve("block11").name == "final" and backbone.resolve("block3").is_stage
    assert backbone.resolve("patch_embed").layout == "tokens"
    assert all(tuple(t.shape) == (2, 768, 14, 14) for t in at_224.values())
    assert tuple(at_96.shape) == (2, 768, 6, 6)
    assert (backbone.out_channels, backbone.stride) == (768, 16)


def test_position_embedding_is_resized_for_other_grids():
    torch.manual_seed(0)
    backbone = build_backbone("vit_b_16")
    stored = backbone.encoder.pos_embedding
    assert backbone.position_embedding(14, 14) is stored
    resized = backbone.position_embedding(6, 6)
    assert resized.shape == (1, 37, 768)
    torch.testing.assert_close(resized[:, :1], stored[:, :1])  # the class token's entry kept
    # Bicubic resizing of a constant grid is that constant.
    with torch.no_grad():
        stored[:, 1:] = 0.5
    torch.testing.assert_close(
        backbone.position_embedding(6, 6)[:, 1:], torch.full((1, 36, 768), 0.5)
    )


def test_matches_torchvision_and_loads_its_weights(tmp_path):
    """With a torchvision state dict (classifier included), the final map is torchvision's
    encoder output without the class token; inserting at a token point goes through the hook."""
    torch.manual_seed(0)
    reference = torchvision.models.vit_b_16(weights=None, image_size=32).eval()
    path = tmp_path / "vit_b_16.pth"
    torch.save(reference.state_dict(), path)
    backbone = build_backbone("vit_b_16", weights_path=path, image_size=32).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        tokens = reference._process_input(x)
        tokens = torch.cat([reference.class_token.expand(2, -1, -1), tokens], dim=1)
        expected = reference.encoder(tokens)[:, 1:].transpose(1, 2).reshape(2, 768, 2, 2)
        torch.testing.assert_close(backbone(x), expected)
        seen = []
        backbone.stage_module("block2").register_forward_hook(lambda m, i, o: seen.append(o))
        out = backbone.forward_stages(x, after={"block2": torch.zeros_like}, read=["block2"])
    assert out["block2"].abs().max() == 0 and tuple(out["block2"].shape) == (2, 768, 2, 2)
    assert seen[0].shape == (2, 5, 768)  # the hooked module gives tokens
    with pytest.raises(ValueError, match="takes no option \\['large_feature_map'\\]"):
        build_backbone("vit_b_16", large_feature_map=False)


def test_adl_on_token_points_through_the_reshape_hook(make_config):
    """method=adl on vit_b_16 (its adl_positions: last-1, final) trains on 32-px images."""
    from hydra.utils import instantiate

    cfg = make_config("train", ["method=adl", "backbone=vit_b_16", "backbone.pretrained=false"])
    torch.manual_seed(0)
    method = instantiate(cfg.method).train()
    assert method.positions == ("last-1", "final")
    labels = torch.tensor([0, 1])
    output = method(torch.randn(2, 3, 32, 32), labels)
    assert output.class_maps.shape == (2, cfg.data.num_classes, 2, 2)
    assert output.aux["adl_dropped"].shape == (2,)
    method.loss(output, labels)["loss"].backward()
    assert method.backbone.conv_proj.weight.grad is not None


@pytest.mark.slow
def test_cam_trains_with_vit_fast_dev_run(tmp_path):
    from wsol.configuration.compose import compose_config
    from wsol.tasks.train import train

    overrides = [
        *SMALL_RUN,
        "backbone=vit_b_16",
        "backbone.pretrained=false",
        "method=cam",
        "debug=fdr",
        "data.preparer.image_size=48",
        "data.train_resize=48",
        "data.train_crop=48",
        "data.eval_size=48",
        "data.batch_size=4",
        "data.eval_batch_size=4",
    ]
    cfg = compose_config("train", overrides, tmp_path / "out", tmp_path)
    output_dir = tmp_path / "logs" / "vit"
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
    train(cfg)
    metrics = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert 0 <= metrics["test/maxboxaccv2"] <= 100


def test_forward_tokens_gives_the_map_class_token_and_each_block_s_attention():
    torch.manual_seed(0)
    backbone = build_backbone("vit_b_16", image_size=32).eval()
    x = torch.randn(2, 3, 32, 48)
    with torch.no_grad():
        out = backbone.forward_tokens(x)
        torch.testing.assert_close(out.features, backbone(x))
        tokens = backbone.embed(x)
        for block, attention in zip(backbone.encoder.layers, out.attentions, strict=True):
            mha = block.self_attention
            qkv = F.linear(block.ln_1(tokens), mha.in_proj_weight, mha.in_proj_bias)
            q, k, _ = qkv.chunk(3, dim=-1)
            heads, dim = mha.num_heads, mha.head_dim
            q = q.reshape(2, -1, heads, dim).transpose(1, 2)
            k = k.reshape(2, -1, heads, dim).transpose(1, 2)
            expected = torch.softmax(q @ k.transpose(-2, -1) / dim**0.5, dim=-1)
            torch.testing.assert_close(attention, expected)
            tokens = block(tokens)
        torch.testing.assert_close(out.class_token, backbone.encoder.ln(tokens)[:, 0])
    assert len(out.attentions) == 12 and out.attentions[0].shape == (2, 12, 7, 7)
    assert out.features.shape == (2, 768, 2, 3) and out.num_prefix == 1 and backbone.gives_tokens
    # The blocks ask for no weights again once the pass is over.
    assert all(not m._forward_pre_hooks and not m._forward_hooks for m in backbone.modules())


def test_tscam_trains_on_vit_b_16():
    from wsol.methods.tscam import TSCAMMethod

    torch.manual_seed(0)
    method = TSCAMMethod(build_backbone("vit_b_16", image_size=32), num_classes=3).train()
    labels = torch.tensor([0, 2])
    output = method(torch.randn(2, 3, 32, 32), labels)
    assert output.class_maps.shape == (2, 3, 2, 2)
    assert output.aux["token_attention"].shape == (2, 2, 2)
    method.loss(output, labels)["loss"].backward()
    assert method.backbone.encoder.layers[0].self_attention.in_proj_weight.grad is not None
