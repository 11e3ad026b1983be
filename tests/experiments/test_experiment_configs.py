"""The 18 benchmark experiment configs: each composes, instantiates with weights from a file this
test writes, runs one fast_dev_run training and evaluation step on fixture data in its format,
and has the parameter groups, initialization and per-epoch learning rates of the sources.

The expected values below are written from the sources, not from the configs: the benchmark
(clovaai/wsolevaluation) config.py defaults, main.py (parameter-group patterns, its decay loop),
wsol/{vgg,resnet,inception}.py (inits, the kept ImageNet fc), its README example commands, and
the published table of docs/methods.md.
"""

from __future__ import annotations

import math

import pytest
import torch
from hydra.utils import instantiate

from tests.conftest import CONFIG_DIR
from tests.helpers.wsoleval_fixture import (
    MARK,
    MARKED,
    NUM_CLASSES,
    torchvision_weights,
    write_wsoleval,
)
from wsol.tasks.common import build_trainer
from wsol.utils.optim import epoch_learning_rates

DATASETS = ("cub", "imagenet", "openimages")
ARCHS = ("vgg16", "resnet50", "inception_v3")
METHODS = ("cam", "acol")
CONFIGS = [(d, a, m) for d in DATASETS for a in ARCHS for m in METHODS]

# Published test numbers (docs/methods.md; MaxBoxAccV2, PxAP for OpenImages).
PUBLISHED = {
    "cam": {
        "imagenet": (60.0, 63.4, 63.7),
        "cub": (63.7, 56.7, 63.0),
        "openimages": (58.3, 63.2, 58.5),
    },
    "acol": {
        "imagenet": (57.4, 63.7, 62.3),
        "cub": (57.4, 56.2, 66.5),
        "openimages": (54.3, 57.2, 57.3),
    },
}
PUBLISHED_ORDER = ("vgg16", "inception_v3", "resnet50")
# Per data set: weight decay, lr_decay_frequency, epochs, batch, few-shot val images per class.
SCHEDULE = {
    "cub": dict(weight_decay=5e-4, decay=15, epochs=50, batch=32, few=5),
    "imagenet": dict(weight_decay=1e-4, decay=3, epochs=10, batch=32, few=10),
    "openimages": dict(weight_decay=5e-4, decay=3, epochs=10, batch=32, few=5),
}
# README example commands; every other setup starts from config.py's default lr.
BASE_LR = {("cub", "vgg16", "cam"): 0.00001268269, ("openimages", "vgg16", "cam"): 0.00227913316}
# main.py _FEATURE_PARAM_LAYER_PATTERNS applied to the benchmark's layer names: modules at 10x.
NEW_MODULES = {
    ("vgg16", "cam"): {"backbone.conv6", "head"},
    ("vgg16", "acol"): {"head_a", "head_b"},
    ("resnet50", "cam"): {"backbone.layer4", "head"},
    ("resnet50", "acol"): {"backbone.layer4"},
    ("inception_v3", "cam"): {"head"},
    ("inception_v3", "acol"): {"head_a", "head_b"},
}
IMAGE_SIZE = 64  # 224 on three ImageNet backbones is too slow for a CPU test


def benchmark_epoch_lrs(lr: float, frequency: int, epochs: int) -> list[float]:
    """The benchmark's loop: before training epoch e (1-based), lr *= 0.1 if e % frequency == 0."""
    rates = []
    for epoch in range(epochs):
        one_based = epoch + 1
        if one_based != 0 and one_based % frequency == 0:
            lr *= 0.1
        rates.append(lr)
    return rates


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    root = tmp_path_factory.mktemp("experiments")
    boxes = write_wsoleval(root / "boxes", masks=False)
    masks = write_wsoleval(root / "masks", masks=True)
    weights = {name: torchvision_weights(name, root / f"{name}.pth") for name in ARCHS}
    return {"boxes": boxes, "masks": masks, "weights": weights}


def overrides(data: str, arch: str, method: str, fixtures) -> list[str]:
    meta, images, mask_root = fixtures["masks" if data == "openimages" else "boxes"]
    data_override = [] if (CONFIG_DIR / "data" / f"{data}.yaml").is_file() else ["data=wsoleval"]
    return [
        f"experiment={data}_{arch}_{method}",
        *data_override,
        f"data.metadata_root={meta}",
        f"data.data_root={images}",
        f"data.mask_root={mask_root}",
        "data.num_workers=0",
        "data.batch_size=2",
        "data.eval_batch_size=4",
        f"data.train_resize={IMAGE_SIZE + 8}",
        f"data.train_crop={IMAGE_SIZE}",
        f"data.eval_size={IMAGE_SIZE}",
        f"backbone.weights_path={fixtures['weights'][arch]}",
        "trainer=cpu",
        "+trainer.fast_dev_run=true",
        "trainer.enable_progress_bar=false",
        "callbacks=none",
        # The OpenImages configs set callbacks.model_checkpoint.monitor; without callbacks, drop it.
        *(["callbacks.model_checkpoint=null"] if data == "openimages" else []),
        "extras.print_config=false",
    ]


def module_prefix(name: str) -> str:
    parts = name.split(".")
    return ".".join(parts[:2]) if parts[0] == "backbone" else parts[0]


def check_init(module, data: str, arch: str, method: str, state: dict) -> None:
    method_net = module.method
    marked = MARKED[arch]
    assert torch.all(method_net.backbone.state_dict()[marked] == MARK), "weights file not loaded"
    if method == "acol":
        conv = method_net.head_a.layers[0]
        fan_in = conv.in_channels * 9
        fan_out = conv.out_channels * 9
        # wsol/resnet.py ResNetAcol: 'he' (kaiming fan-out); vgg/inception: 'xavier'.
        he = math.sqrt(2 / fan_out)
        xavier = math.sqrt(2 / (fan_in + fan_out))
        expected = he if arch == "resnet50" else xavier
        assert conv.weight.std().item() == pytest.approx(expected, rel=0.05)
        assert torch.all(conv.bias == 0)
    elif arch == "resnet50" and data == "imagenet":
        # The benchmark keeps torchvision's fc for ILSVRC.
        assert torch.equal(method_net.head.fc.weight, state["fc.weight"])
        assert torch.equal(method_net.head.fc.bias, state["fc.bias"])
    elif arch == "inception_v3":
        convs = [m for m in method_net.head.modules() if isinstance(m, torch.nn.Conv2d)]
        drops = [m for m in method_net.head.modules() if isinstance(m, torch.nn.Dropout)]
        assert [c.out_channels for c in convs] == [
            1024,
            1024,
            200 if data == "cub" else 1000 if data == "imagenet" else 100,
        ]
        assert [d.p for d in drops] == [0.5, 0.5, 0.5]
    else:
        # GAP + linear: fc ~ N(0, 0.01), zero bias (initialize_weights for nn.Linear).
        assert method_net.head.fc.weight.std().item() == pytest.approx(0.01, rel=0.05)
        assert torch.all(method_net.head.fc.bias == 0)


@pytest.mark.slow
@pytest.mark.parametrize(("data", "arch", "method"), CONFIGS, ids=lambda v: str(v))
def test_experiment_matches_sources_and_runs(data, arch, method, fixtures, make_config):
    cfg = make_config("train", overrides(data, arch, method, fixtures))
    schedule = SCHEDULE[data]
    metric = "pxap" if data == "openimages" else "maxboxaccv2"
    published = PUBLISHED[method][data][PUBLISHED_ORDER.index(arch)]
    assert (cfg.published.metric, cfg.published.value) == (f"test/{metric}", published)
    assert cfg.optimized_metric == f"val/{metric}"
    assert cfg.eval.cam_curve_interval == 0.001
    assert cfg.eval_checkpoint == "last"

    datamodule = instantiate(cfg.data)
    assert len(datamodule.split(datamodule.val_split)) == schedule["few"] * NUM_CLASSES
    module = instantiate(cfg.module, _partial_=True)(run_config={})
    kept_fc = arch == "resnet50" and method == "cam" and data == "imagenet"
    state = torch.load(fixtures["weights"][arch], weights_only=True) if kept_fc else {}
    check_init(module, data, arch, method, state)

    lr = BASE_LR.get((data, arch, method), 0.01)
    assert cfg.module.optimizer.lr == pytest.approx(lr)
    assert cfg.module.optimizer.weight_decay == schedule["weight_decay"]
    assert cfg.module.optimizer.momentum == 0.9 and cfg.module.optimizer.nesterov
    groups = module.method.param_groups(lr=lr, head_lr_mult=cfg.module.head_lr_mult)
    by_name = {group["name"]: group for group in groups}
    new_ids = {id(p) for p in by_name["new"]["params"]}
    new_modules = {
        module_prefix(name)
        for name, param in module.method.named_parameters()
        if id(param) in new_ids
    }
    assert new_modules == NEW_MODULES[(arch, method)]
    assert by_name["new"]["lr"] == pytest.approx(10 * lr)
    assert by_name["pretrained"]["lr"] == pytest.approx(lr)

    rates = epoch_learning_rates(
        module.optimizer_factory,
        module.scheduler_factory,
        {group["name"]: group["lr"] for group in groups},
        epochs=cfg.trainer.max_epochs,
        steps_per_epoch=7,
        interval=cfg.module.scheduler_interval,
    )
    assert cfg.trainer.max_epochs == schedule["epochs"]
    for name, factor in (("pretrained", 1), ("new", 10)):
        expected = benchmark_epoch_lrs(lr * factor, schedule["decay"], schedule["epochs"])
        assert rates[name] == pytest.approx(expected, rel=1e-9)
    assert cfg.data.batch_size == 2 and schedule["batch"] == 32  # overridden for speed here

    trainer = build_trainer(cfg)
    trainer.fit(module, datamodule=datamodule)
    trainer.test(module, datamodule=datamodule)
    results = module.last_test_results
    assert results is not None
    value = results["pxap"] if data == "openimages" else results["maxboxaccv2"]
    assert 0 <= float(value) <= 100


def test_every_benchmark_config_is_tested():
    names = {p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml")}
    # The transformer rows (method tscam, tests/methods/test_tscam.py) are not the benchmark's.
    benchmark = {n for n in names if not n.startswith("synthetic") and not n.endswith("_tscam")}
    assert benchmark == {f"{d}_{a}_{m}" for d, a, m in CONFIGS}


def test_batch_size_of_the_configs(make_config, fixtures):
    for data in DATASETS:
        cfg = make_config(
            "train",
            overrides(data, "vgg16", "cam", fixtures)[:1]
            + ([] if (CONFIG_DIR / "data" / f"{data}.yaml").is_file() else ["data=wsoleval"]),
        )
        assert cfg.data.batch_size == SCHEDULE[data]["batch"]
        assert cfg.data.num_val_sample_per_class == SCHEDULE[data]["few"]
        assert (cfg.data.train_resize, cfg.data.train_crop, cfg.data.eval_size) == (256, 224, 224)
