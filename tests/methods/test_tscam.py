"""TS-CAM: token semantic coupling on timm DeiT/ViT token backbones (random weights only)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from omegaconf import open_dict

from tests.conftest import compose_config
from tests.helpers.small_run import SMALL_RUN
from wsol.methods.tscam import TSCAMMethod, token_coupling_attention
from wsol.models import build_backbone

timm = pytest.importorskip("timm")

#: A small ViT: patch 8, 2 blocks of width 32 with 2 heads.
SMALL = {"patch_size": 8, "embed_dim": 32, "depth": 2, "num_heads": 2, "img_size": 32}


def test_deit_tiny_maps_have_the_expected_shape():
    backbone = build_backbone("timm_vit", model_name="deit_tiny_patch16_224")
    method = TSCAMMethod(backbone, num_classes=5).eval()
    with torch.no_grad():
        output = method(torch.randn(2, 3, 224, 224))
        cams = method.cams(output, torch.tensor([1, 4]))
    assert output.logits.shape == (2, 5)
    assert output.class_maps.shape == (2, 5, 14, 14)
    assert output.aux["semantic_maps"].shape == (2, 5, 14, 14)
    assert output.aux["token_attention"].shape == (2, 14, 14)
    assert cams.shape == (2, 14, 14) and torch.isfinite(cams).all()
    method.check_output(output, batch_size=2)  # the method contract's shapes, extra maps too
    labels = torch.tensor([1, 4])
    assert method.extra_map(output, "semantic_maps", labels).shape == (2, 14, 14)
    torch.testing.assert_close(
        method.extra_map(output, "token_attention", None), output.aux["token_attention"]
    )
    # Logits are the spatial mean of the semantic maps (the official classifier).
    torch.testing.assert_close(output.logits, output.aux["semantic_maps"].mean(dim=(2, 3)))


def test_coupling_attention_by_loops():
    attentions = [torch.rand(2, 3, 1 + 6, 1 + 6).softmax(-1) for _ in range(4)]
    got = token_coupling_attention(attentions, num_prefix=1, grid=(2, 3))
    for b in range(2):
        for i in range(2):
            for j in range(3):
                expected = sum(
                    sum(a[b, h, 0, 1 + i * 3 + j].item() for h in range(3)) / 3 for a in attentions
                )
                assert got[b, i, j].item() == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="does not fit a 3x3 grid"):
        token_coupling_attention(attentions, num_prefix=1, grid=(3, 3))


def test_token_coupling_equals_a_hand_computation_on_a_small_model():
    kwargs = {**SMALL, "img_size": (32, 40)}  # a 4x5 grid: rows and columns differ
    backbone = build_backbone("timm_vit", model_name="vit_tiny_patch16_224", model_kwargs=kwargs)
    method = TSCAMMethod(backbone, num_classes=3).eval()
    images = torch.randn(2, 3, 32, 40)
    body = backbone.body
    with torch.no_grad():
        output = method(images)
        # By hand: patches, class token, position; then per block the attention
        # softmax(q k^T / sqrt(d)) from the block's own qkv projection, and the block.
        patches = body.patch_embed.proj(images).flatten(2).transpose(1, 2)  # [2, 20, 32]
        tokens = torch.cat([body.cls_token.expand(2, -1, -1), patches], dim=1) + body.pos_embed
        attention = torch.zeros(2, 4, 5)
        for block in body.blocks:
            qkv = block.attn.qkv(block.norm1(tokens)).reshape(2, 21, 3, 2, 16)
            q, k = qkv[:, :, 0].transpose(1, 2), qkv[:, :, 1].transpose(1, 2)  # [2, heads, 21, 16]
            weights = torch.softmax(q @ k.transpose(-2, -1) * 16**-0.5, dim=-1)
            attention += weights[:, :, 0, 1:].mean(dim=1).reshape(2, 4, 5)
            tokens = block(tokens)
        feature_map = body.norm(tokens)[:, 1:].transpose(1, 2).reshape(2, 32, 4, 5)
        semantic = method.head(feature_map)
    torch.testing.assert_close(output.aux["token_attention"], attention, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(output.aux["semantic_maps"], semantic, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(
        output.class_maps, attention[:, None] * semantic, rtol=1e-4, atol=1e-5
    )


def test_a_backbone_without_tokens_is_refused():
    with pytest.raises(ValueError, match="method=tscam needs a token backbone.*TimmBackbone"):
        TSCAMMethod(build_backbone("timm", model_name="resnet10t"), num_classes=3)
    with pytest.raises(ValueError, match="TinyBackbone"):
        TSCAMMethod(build_backbone("tiny"), num_classes=3)


def test_generic_layers_never_name_the_method():
    root = Path(__file__).resolve().parents[2] / "wsol"
    generic = [root / "lit_module.py", *(root / d for d in ("callbacks", "tasks", "viz", "cams"))]
    files = [p for g in generic for p in ([g] if g.is_file() else g.rglob("*.py"))]
    assert files
    named = [str(p) for p in files if re.search(r"\bts[-_]?cam\b", p.read_text(), re.IGNORECASE)]
    assert named == []


@pytest.mark.slow
def test_tscam_trains_and_wsol_eval_reproduces_its_scores(tmp_path):
    """Training's test and wsol-eval on its checkpoint go through the same evaluation."""
    overrides = [
        *SMALL_RUN,
        "debug=limit",
        "trainer.max_epochs=1",
        "experiment=synthetic_vit_tscam",
        "backbone.model_kwargs.embed_dim=32",
        "backbone.model_kwargs.depth=2",
    ]
    cfg = compose_config("train", overrides, tmp_path)
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / "run")
    from wsol.tasks.evaluate import evaluate
    from wsol.tasks.train import train

    train(cfg)
    trained = json.loads((tmp_path / "run" / "metrics.json").read_text())
    for key in ("test/maxboxaccv2", "test/pxap", "test/top1_loc", "test/gt_known_loc"):
        assert 0 <= trained[key] <= 100, key
    checkpoint = tmp_path / "run" / "checkpoints" / "last.ckpt"
    eval_overrides = [f"ckpt_path={checkpoint}", "extras.print_config=false"]
    eval_cfg = compose_config("eval", [*eval_overrides, "++trainer.limit_test_batches=2"], tmp_path)
    with open_dict(eval_cfg):
        eval_cfg.paths.output_dir = str(tmp_path / "eval")
    evaluate(eval_cfg)
    evaluated = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    keys = [k for k in trained if k.startswith("test/")]
    assert keys and {k: evaluated[k] for k in keys} == {k: trained[k] for k in keys}


# The official settings (vasgaowei/TS-CAM configs/*/deit_tscam_small_patch16_224.yaml, the
# train_val_*.sh learning rates, engine.py's decay epochs) and the paper's DeiT-S numbers.
OFFICIAL = {
    "cub": {
        "lr": 5e-5,
        "batch": 128,
        "epochs": 60,
        "milestones": [29, 59],
        "top1": 71.3,
        "gt_known": 87.7,
    },
    "imagenet": {
        "lr": 5e-4,
        "batch": 256,
        "epochs": 20,
        "milestones": [9, 11, 19],
        "top1": 53.4,
        "gt_known": 67.6,
    },
}


@pytest.mark.parametrize("data", sorted(OFFICIAL))
def test_experiment_configs_carry_the_official_settings(tmp_path, data):
    cfg = compose_config("train", [f"experiment={data}_deit_small_tscam"], tmp_path)
    official = OFFICIAL[data]
    assert cfg.method._target_ == "wsol.methods.tscam.TSCAMMethod"
    assert cfg.backbone.name == "timm_vit"
    assert cfg.backbone.model_name == "deit_small_patch16_224"
    assert cfg.backbone.model_kwargs.drop_path_rate == 0.1
    assert cfg.module.optimizer._target_ == "torch.optim.AdamW"
    assert cfg.module.optimizer.lr == official["lr"] and cfg.module.head_lr_mult == 1.0
    assert list(cfg.module.scheduler.milestones) == official["milestones"]
    assert cfg.data.batch_size == official["batch"] and cfg.trainer.max_epochs == official["epochs"]
    assert (cfg.data.train_resize, cfg.data.train_crop, cfg.data.eval_size) == (256, 224, 224)
    assert (cfg.published.metric, cfg.published.value) == ("test/top1_loc", official["top1"])
    assert cfg.published.gt_known_loc == official["gt_known"]
    assert list(cfg.data.mean) == [0.485, 0.456, 0.406]  # DeiT's pretrained_cfg
