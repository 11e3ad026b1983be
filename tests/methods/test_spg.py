"""SPG: seed masks and losses against hand computations; branches, shapes, training."""

from __future__ import annotations

import json
import math
from functools import partial
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import OmegaConf, open_dict

from tests.conftest import compose_config
from tests.helpers.small_run import SMALL_RUN
from wsol.methods.outputs import MethodOutput
from wsol.methods.spg import SPGClassifier, SPGMethod
from wsol.methods.spg_seeds import (
    SEED_BACKGROUND as BG,
)
from wsol.methods.spg_seeds import (
    SEED_FOREGROUND as FG,
)
from wsol.methods.spg_seeds import (
    SEED_IGNORE as IG,
)
from wsol.methods.spg_seeds import (
    fused_attention,
    label_attention,
    seed_fractions,
    seed_loss,
    seed_mask,
)
from wsol.models import build_backbone

# ---------------------------------------------------------------- seed masks by hand


def test_seed_mask_thresholds_are_strict():
    attention = torch.tensor([[[0.9, 0.7, 0.5, 0.1, 0.05, 0.0]]])
    mask = seed_mask(attention, high=0.7, low=0.1, min_foreground=1)
    # 0.9 > 0.7: foreground; 0.7 is not > 0.7; 0.1 is not < 0.1; 0.05 and 0 are background.
    assert mask.tolist() == [[[FG, IG, IG, IG, BG, BG]]]
    assert mask.dtype == torch.uint8


def test_too_few_foreground_pixels_fall_back_to_a_share_of_the_maximum():
    attention = torch.tensor([[[0.6, 0.5, 0.4, 0.3, 0.2, 0.0]], [[0.9, 0.8, 0.4, 0.3, 0.2, 0.0]]])
    mask = seed_mask(attention, high=0.7, low=0.1, min_foreground=2, fallback_ratio=0.7)
    # Image 0: nothing > 0.7 (0 < 2 pixels): foreground is > 0.7 * 0.6 = 0.42 → 0.6, 0.5.
    # Image 1: two pixels > 0.7 (not fewer than 2): no fallback.
    assert mask.tolist() == [[[FG, FG, IG, IG, IG, BG]], [[FG, FG, IG, IG, IG, BG]]]
    # With min_foreground 3 image 1 falls back too.
    mask = seed_mask(attention, high=0.7, low=0.1, min_foreground=3, fallback_ratio=0.4)
    # Image 0: > 0.24 → 0.6, 0.5, 0.4, 0.3; image 1: > 0.36 → 0.9, 0.8, 0.4.
    assert mask.tolist() == [[[FG, FG, FG, FG, IG, BG]], [[FG, FG, FG, IG, IG, BG]]]


def test_background_wins_over_foreground_and_ignored_images_are_all_ignore():
    # A faint map: the fallback foreground (> 0.7 * 0.04) lies below `low`, so background wins.
    attention = torch.tensor([[[0.04, 0.035, 0.0]], [[0.9, 0.5, 0.0]]])
    mask = seed_mask(attention, high=0.7, low=0.05, min_foreground=1)
    assert mask.tolist() == [[[BG, BG, BG]], [[FG, IG, BG]]]
    mask = seed_mask(
        attention, 0.7, 0.05, min_foreground=1, ignore_images=torch.tensor([0, 1]).bool()
    )
    assert mask.tolist() == [[[BG, BG, BG]], [[IG, IG, IG]]]


def _reference_mask(attention, high, low, min_foreground=30, ratio=0.7):
    """The benchmark's per-image loop, written out (float mask with 255 for ignore)."""
    mask = torch.full_like(attention, 255.0)
    for b in range(attention.shape[0]):
        chosen = attention[b] > high
        if chosen.sum() < min_foreground:
            chosen = attention[b] > attention[b].max() * ratio
        mask[b][chosen] = 1.0
    mask[attention < low] = 0.0
    return mask


def test_seed_mask_equals_the_reference_loop_on_random_maps():
    torch.manual_seed(0)
    attention = torch.rand(6, 40, 40) ** 3  # some images with < 30 pixels above 0.7
    attention[2] *= 0.5  # none above 0.7: falls back
    for high, low in ((0.7, 0.01), (0.5, 0.05), (0.7, 0.1)):
        got = seed_mask(attention, high, low)
        assert torch.equal(got.float(), _reference_mask(attention, high, low))


def test_seed_fractions():
    mask = torch.tensor([[[FG, BG, IG, BG]]], dtype=torch.uint8)
    foreground, background = seed_fractions(mask)
    assert float(foreground) == 0.25 and float(background) == 0.5


# ---------------------------------------------------------------- attention maps by hand


def test_label_attention_upsamples_then_normalizes_and_flags_constant_maps():
    maps = torch.zeros(2, 3, 2, 2)
    maps[0, 1] = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    maps[0, 0] = 100.0  # another class: not read
    maps[1, 2] = 5.0  # constant
    maps.requires_grad_(True)
    attention, constant = label_attention(maps, torch.tensor([1, 2]), (4, 4))
    assert not attention.requires_grad and constant.tolist() == [False, True]
    # Bilinear 2x2 → 4x4 (align_corners=False): rows/cols at source positions -0.25, 0.25,
    # 0.75, 1.25 clamped to [0, 1]: weights 0, 0.25, 0.75, 1 on the second row/column.
    w = torch.tensor([0.0, 0.25, 0.75, 1.0])
    up = (w[:, None] * 2.0) + w[None, :]  # value = 2 * row weight + column weight
    expected = (up - up.min()) / (up.max() - up.min())
    torch.testing.assert_close(attention[0], expected)
    assert torch.equal(attention[1], torch.zeros(4, 4))


def test_upsampling_first_changes_the_normalization():
    # A peak on a 3x3 map: upsampled, its maximum falls below the source maximum, and
    # normalizing before upsampling would give a different map (the benchmark upsamples first).
    maps = torch.zeros(1, 1, 3, 3)
    maps[0, 0, 1, 1] = 1.0
    attention, _ = label_attention(maps, torch.tensor([0]), (12, 12))
    normalized_first = F.interpolate(maps, size=(12, 12), mode="bilinear")[0, 0]
    assert float(attention.max()) == 1.0
    assert float(normalized_first.max()) < 1.0


def test_fused_attention_is_the_mean_of_the_branch_probabilities():
    b1 = torch.zeros(1, 1, 2, 2, requires_grad=True)
    b2 = torch.full((1, 1, 2, 2), math.log(3.0), requires_grad=True)  # sigmoid = 0.75
    fused = fused_attention(b1, b2, (4, 4))
    assert fused.shape == (1, 4, 4) and not fused.requires_grad
    torch.testing.assert_close(fused, torch.full((1, 4, 4), (0.5 + 0.75) / 2))


# ---------------------------------------------------------------- seed losses by hand


def test_seed_loss_is_bce_over_the_kept_pixels():
    logits = torch.tensor([[[[2.0, -1.0], [0.5, 3.0]]]], requires_grad=True)
    mask = torch.tensor([[[FG, BG], [IG, BG]]], dtype=torch.uint8)
    loss, count = seed_loss(logits, mask)
    # -log σ(2) - log(1 - σ(-1)) - log(1 - σ(3)), over 3 pixels.
    sig = torch.sigmoid
    expected = (
        -(
            torch.log(sig(torch.tensor(2.0)))
            + torch.log(1 - sig(torch.tensor(-1.0)))
            + torch.log(1 - sig(torch.tensor(3.0)))
        )
        / 3
    )
    torch.testing.assert_close(loss, expected)
    assert int(count) == 3
    loss.backward()
    assert logits.grad[0, 0, 1, 0] == 0 and logits.grad[0, 0, 0, 0] < 0


def test_seed_loss_upsamples_the_logits_to_the_mask():
    logits = torch.randn(2, 1, 3, 3)
    mask = torch.randint(0, 2, (2, 12, 12), dtype=torch.uint8)
    loss, count = seed_loss(logits, mask)
    up = F.interpolate(logits, size=(12, 12), mode="bilinear", align_corners=False)[:, 0]
    torch.testing.assert_close(loss, F.binary_cross_entropy_with_logits(up, mask.float()))
    assert int(count) == 2 * 144


def test_a_seed_loss_with_nothing_kept_is_zero_and_attached():
    logits = torch.randn(2, 1, 3, 3, requires_grad=True)
    loss, count = seed_loss(logits, torch.full((2, 6, 6), IG, dtype=torch.uint8))
    assert float(loss.detach()) == 0.0 and int(count) == 0
    loss.backward()
    assert torch.equal(logits.grad, torch.zeros_like(logits))


# ---------------------------------------------------------------- the method on hand-made outputs


@pytest.fixture
def spg_tiny() -> SPGMethod:
    torch.manual_seed(0)
    backbone = build_backbone("tiny", widths=(4, 6, 8))
    head = partial(SPGClassifier, num_convs=0)
    return SPGMethod(backbone, 3, b1_at="stage2", b2_at="stage3", head=head, branch_width=5)


def _output(maps, logits_b1, logits_b2, logits_c, labels, frame):
    """A MethodOutput as SPGMethod.forward builds it, from hand-made maps."""
    attention, constant = label_attention(maps, labels, frame)
    aux = {
        "logits_b1": logits_b1,
        "logits_b2": logits_b2,
        "logits_c": logits_c,
        "attention": attention,
        "constant_attention": constant,
        "fused_attention": fused_attention(logits_b1, logits_b2, frame),
    }
    return MethodOutput(logits=maps.mean(dim=(2, 3)), class_maps=maps, aux=aux)


def test_loss_sums_cross_entropy_and_the_three_seed_losses(spg_tiny):
    torch.manual_seed(0)
    maps = torch.randn(2, 3, 4, 4)
    maps[1] = 1.0  # image 1: constant attention → B2's seeds ignore it
    branch = [torch.randn(2, 1, 4, 4, requires_grad=True) for _ in range(3)]
    labels = torch.tensor([2, 0])
    output = _output(maps, *branch, labels, (16, 16))
    losses = spg_tiny.loss(output, labels)
    # The masks by hand, with the benchmark's default thresholds.
    b2_mask = seed_mask(output.aux["attention"], 0.7, 0.01)
    b2_mask[1] = IG
    b2_prob = torch.sigmoid(F.interpolate(branch[1], size=(16, 16), mode="bilinear"))[:, 0]
    b1_mask = seed_mask(b2_prob, 0.5, 0.05)
    c_mask = seed_mask(output.aux["fused_attention"], 0.7, 0.1)
    expected = {
        "loss_cls": F.cross_entropy(output.logits, labels),
        "loss_b2": seed_loss(branch[1], b2_mask)[0],
        "loss_b1": seed_loss(branch[0], b1_mask)[0],
        "loss_c": seed_loss(branch[2], c_mask)[0],
    }
    assert losses.keys() == {"loss", *expected}
    for name, value in expected.items():
        torch.testing.assert_close(losses[name], value)
    torch.testing.assert_close(losses["loss"], sum(expected.values()))
    scalars = spg_tiny.extra_scalars(output)
    assert float(scalars["constant_attention"]) == 0.5
    assert float(scalars["seeds_b2_fg"]) == float(seed_fractions(b2_mask)[0])


# ---------------------------------------------------------------- the method end to end (tiny)


def test_forward_scores_classifier_a_and_guides_with_detached_maps(spg_tiny):
    images, labels = torch.randn(2, 3, 32, 32), torch.tensor([1, 2])
    output = spg_tiny(images, labels)
    maps = output.class_maps
    assert maps.shape == (2, 3, 4, 4) and output.logits.shape == (2, 3)
    torch.testing.assert_close(output.logits, maps.mean(dim=(2, 3)))
    # The scored map is A's class map at the label (raw), as the benchmark's return_cam.
    torch.testing.assert_close(spg_tiny.cams(output, labels), maps[torch.arange(2), labels])
    aux = output.aux
    assert aux["logits_b1"].shape == (2, 1, 8, 8) and aux["logits_b2"].shape == (2, 1, 4, 4)
    assert aux["logits_c"].shape == (2, 1, 4, 4)
    assert aux["attention"].shape == (2, 32, 32) and aux["fused_attention"].shape == (2, 32, 32)
    expected, _ = label_attention(maps, labels, (32, 32))
    torch.testing.assert_close(aux["attention"], expected)
    assert aux["map_b1"].shape == (2, 3, 8, 8)  # B1 repeated over K for the heatmap panel
    # Without labels the attention follows the prediction.
    unlabeled = spg_tiny(images)
    predicted = unlabeled.logits.argmax(dim=1)
    expected, _ = label_attention(unlabeled.class_maps, predicted, (32, 32))
    torch.testing.assert_close(unlabeled.aux["attention"], expected)


def test_each_seed_loss_trains_only_its_branch(spg_tiny):
    images, labels = torch.randn(2, 3, 32, 32), torch.tensor([0, 1])
    branch_of = {"loss_b1": "branch_b1", "loss_b2": "branch_b2", "loss_c": "branch_c"}
    for term, branch in branch_of.items():
        spg_tiny.zero_grad(set_to_none=True)
        spg_tiny.loss(spg_tiny(images, labels), labels)[term].backward()
        grads = {n for n, p in spg_tiny.named_parameters() if p.grad is not None and p.grad.any()}
        # The seeds are detached: the classifier A (head) learns only from cross-entropy.
        assert not any(n.startswith("head.classifier") for n in grads), term
        assert any(n.startswith(branch) for n in grads), term
    spg_tiny.zero_grad(set_to_none=True)
    spg_tiny.loss(spg_tiny(images, labels), labels)["loss"].backward()
    assert all(p.grad is not None for p in spg_tiny.parameters())


def test_b1_and_b2_share_their_tail_and_c_has_its_own(spg_tiny):
    assert spg_tiny.branch_b1.tail is spg_tiny.branch_b2.tail
    c_layers = [type(m).__name__ for m in spg_tiny.branch_c.modules() if not list(m.children())]
    assert c_layers == ["Conv2d", "ReLU", "Conv2d"]  # Conv3x3 + ReLU, Conv1x1 → 1
    assert spg_tiny.branch_c.tail[0].kernel_size == (1, 1)


def test_bad_positions_and_thresholds_are_named():
    backbone = build_backbone("tiny", widths=(4, 6, 8))
    with pytest.raises(ValueError, match="no point 'layer3'"):
        SPGMethod(backbone, 3, b1_at="layer3", b2_at="stage3")
    with pytest.raises(ValueError, match="thresholds"):
        SPGMethod(backbone, 3, b1_at="stage2", b2_at="stage3", threshold_1h=1.5)
    with pytest.raises(ValueError, match="we_renamed"):
        SPGMethod(backbone, 3, b1_at="stage2", b2_at="stage3", we_renamed=["final", "stage2"])


# ---------------------------------------------------------------- the benchmark's SPG models
# Written from reading clovaai/wsolevaluation wsol/vgg.py VggSpg, wsol/resnet.py ResNetSpg and
# wsol/inception.py InceptionSpg (and main.py's _FEATURE_PARAM_LAYER_PATTERNS): at 224 px, the
# (channels, side) that the B1 and B2 entry convs (SPG_B_1a, SPG_B_2a), C (SPG_C) and the
# class-map conv (SPG_A4 / SPG_A_4) read, the branch widths, and, for 7 classes, the parameter
# count of the whole model and of its two optimizer groups under the benchmark's name rule.
BENCHMARK_SPG = {
    "vgg16_pool4_3x3": {
        "reads": {"b1": (512, 14), "b2": (512, 14), "c": (512, 14), "a4": (512, 14)},
        "widths": {"b1": 512, "b2": 512, "c": 512},
        "params": 28_878_153,
        "groups": {"pretrained": 1_735_488, "new": 27_142_665},
    },
    "resnet50": {
        "reads": {"b1": (1024, 14), "b2": (1024, 14), "c": (2048, 14), "a4": (2048, 14)},
        "widths": {"b1": 1024, "b2": 1024, "c": 512},
        "params": 61_276_233,
        "groups": {"pretrained": 46_311_497, "new": 14_964_736},
    },
    "inception_v3": {
        "reads": {"b1": (288, 14), "b2": (768, 14), "c": (1024, 14), "a4": (1024, 14)},
        "widths": {"b1": 512, "b2": 512, "c": 512},
        "params": 37_437_161,
        "groups": {"pretrained": 8_965_856, "new": 28_471_305},
    },
}
CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _spg_from_configs(name: str, large: bool) -> SPGMethod:
    """SPGMethod on a backbone config, wired by configs/method/spg.yaml (on the meta device)."""
    cfg = OmegaConf.load(CONFIGS / "backbone" / f"{name}.yaml")
    method_cfg = OmegaConf.load(CONFIGS / "method" / "spg.yaml")
    cfg.data = {"num_classes": 7}
    cfg.backbone.pretrained = False
    cfg.backbone.large_feature_map = large
    cfg.method = method_cfg
    with torch.device("meta"):
        return instantiate(cfg.method)


@pytest.mark.parametrize("large", [False, True])
@pytest.mark.parametrize("name", sorted(BENCHMARK_SPG))
def test_branches_read_what_the_benchmark_models_read(name, large):
    method = _spg_from_configs(name, large).eval()
    seen = {}
    layers = {
        "b1": method.branch_b1.entry[0],
        "b2": method.branch_b2.entry[0],
        "c": method.branch_c.entry[0],
        "a4": method.head.classifier,
    }
    for key, layer in layers.items():
        layer.register_forward_pre_hook(
            lambda m, args, k=key: seen.__setitem__(k, (args[0].shape[1], args[0].shape[2]))
        )
    with torch.device("meta"):
        output = method(torch.empty(2, 3, 224, 224), torch.tensor([0, 1]))
    side = 28 if large else 14
    expected = BENCHMARK_SPG[name]
    assert seen == {k: (c, side) for k, (c, _) in expected["reads"].items()}
    assert {k: layers[k].out_channels for k in ("b1", "b2", "c")} == expected["widths"]
    assert method.head.classifier.out_channels == 7
    for key in ("logits_b1", "logits_b2", "logits_c"):
        assert tuple(output.aux[key].shape) == (2, 1, side, side)
    assert tuple(output.class_maps.shape) == (2, 7, side, side)
    assert tuple(output.aux["attention"].shape) == (2, 224, 224)


@pytest.mark.parametrize("name", sorted(BENCHMARK_SPG))
def test_parameters_and_groups_equal_the_benchmark_models(name):
    method = _spg_from_configs(name, large=False)
    expected = BENCHMARK_SPG[name]
    assert sum(p.numel() for p in method.parameters()) == expected["params"]
    groups = {g["name"]: sum(p.numel() for p in g["params"]) for g in method.param_groups(1, 10)}
    assert groups == expected["groups"]


def test_the_yaml_uses_the_benchmark_thresholds():
    cfg = OmegaConf.load(CONFIGS / "method" / "spg.yaml")
    thresholds = {k: cfg[k] for k in cfg if str(k).startswith("threshold_")}
    assert thresholds == {
        "threshold_1h": 0.7,
        "threshold_1l": 0.01,
        "threshold_2h": 0.5,
        "threshold_2l": 0.05,
        "threshold_3h": 0.7,
        "threshold_3l": 0.1,
    }
    assert (cfg.min_foreground, cfg.fallback_ratio, cfg.lr_rule) == (30, 0.7, "we")


# ---------------------------------------------------------------- a training run


@pytest.mark.slow
def test_fast_dev_run_with_method_spg(tmp_path):
    cfg = compose_config("train", [*SMALL_RUN, "method=spg", "debug=fdr"], tmp_path)
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / "run")
    from wsol.tasks.train import train

    train(cfg)
    metrics = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert 0 <= metrics["test/maxboxaccv2"] <= 100


def test_we_renamed_layers_are_the_benchmark_spg_a_layers():
    method = _spg_from_configs("vgg16_pool4_3x3", large=False)
    renamed = {name.split(".")[2] for name in method.we_renamed_params}
    # conv4_1..conv5_3 (features.17.. after pool3 at index 16): its SPG_A_1 and SPG_A_2.
    assert renamed == {"17", "19", "21", "24", "26", "28"}
