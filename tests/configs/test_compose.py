"""Every option of every config group composes and instantiates; bad keys fail by name."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.errors import ConfigCompositionException, InstantiationException
from hydra.utils import instantiate
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import Logger
from omegaconf import OmegaConf, open_dict

from tests.conftest import CONFIG_DIR
from wsol.configuration.instantiate import instantiate_callbacks, instantiate_loggers
from wsol.data.datamodule import WSOLDataModule
from wsol.lit_module import WSOLLitModule
from wsol.methods.base import WSOLMethod
from wsol.models.base import Backbone


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))


def test_every_group_has_options():
    for group in (
        "data",
        "backbone",
        "method",
        "module",
        "eval",
        "trainer",
        "callbacks",
        "logger",
        "paths",
        "hydra",
        "experiment",
        "hparams_search",
        "debug",
        "extras",
    ):
        assert options(group), f"configs/{group}/ has no options"


@pytest.mark.parametrize("name", ["train", "eval", "predict"])
def test_top_level_configs_compose(make_config, name):
    overrides = ["ckpt_path=x.ckpt", "input=x.png"] if name == "predict" else []
    cfg = make_config(name, overrides)
    OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves
    assert cfg.task_name == name


@pytest.mark.parametrize("option", options("data"))
def test_data_options(make_config, option):
    extra = []
    if option != "synthetic":
        extra = ["data.metadata_root=/m", "data.data_root=/d", "data.num_classes=3"]
    cfg = make_config("train", [f"data={option}", *extra])
    datamodule = instantiate(cfg.data)
    assert isinstance(datamodule, WSOLDataModule)


@pytest.mark.parametrize("option", options("backbone"))
def test_backbone_options(make_config, option, no_random_fill):
    cfg = make_config("train", [f"backbone={option}", "backbone.pretrained=false"])
    backbone = instantiate(cfg.backbone)
    assert isinstance(backbone, Backbone) and backbone.out_channels > 0


# Methods that need more than the default tiny CNN gives (TS-CAM: class token and attention).
METHOD_BACKBONE = {
    "tscam": [
        "backbone=timm_vit",
        "backbone.pretrained=false",
        "backbone.model_name=deit_tiny_patch16_224",
    ]
}


# Post-hoc methods explain a trained classifier and run under wsol-eval only: every one of them
# is built in tests/cams/test_posthoc.py.
@pytest.mark.parametrize("option", [o for o in options("method") if not o.startswith("posthoc")])
def test_method_options(make_config, option):
    cfg = make_config("train", [f"method={option}", *METHOD_BACKBONE.get(option, [])])
    method = instantiate(cfg.method)
    assert isinstance(method, WSOLMethod) and method.num_classes == cfg.data.num_classes


@pytest.mark.parametrize("option", options("module"))
def test_module_options(make_config, option):
    cfg = make_config("train", [f"module={option}"])
    module = instantiate(cfg.module)
    assert isinstance(module, WSOLLitModule)
    optimizer = module.optimizer_factory(params=module.method.parameters())
    assert optimizer.param_groups[0]["lr"] == cfg.module.optimizer.lr
    assert module.hparams.channels_last is True  # the default layout
    weight = next(module.method.parameters())
    assert weight.is_contiguous(memory_format=torch.channels_last)
    nchw = instantiate(
        make_config("train", [f"module={option}", "module.channels_last=false"]).module
    )
    assert next(nchw.method.parameters()).is_contiguous()


@pytest.mark.parametrize("option", options("hparams_search"))
def test_hparams_search_options(make_config, option):
    cfg = make_config("train", [f"hparams_search={option}"])
    assert cfg.hydra.mode.name == "MULTIRUN"
    for key, values in cfg.hydra.sweeper.params.items():
        assert OmegaConf.select(cfg, key) is not None, f"{option} sweeps a missing key {key}"
        assert len(str(values).split(",")) > 1
    assert cfg.optimized_metric.startswith("val/")


@pytest.mark.parametrize("option", options("eval"))
def test_eval_options(make_config, option):
    cfg = make_config("train", [f"eval={option}"])
    assert 0 < cfg.eval.cam_curve_interval < 1
    module = instantiate(cfg.module)
    assert module.protocol.cam_curve_interval == cfg.eval.cam_curve_interval


@pytest.mark.parametrize("option", options("trainer"))
def test_trainer_options(make_config, option):
    # No accelerator here: GPU options are instantiated with their accelerator swapped for the
    # CPU, which still checks every other key against Trainer's signature.
    cfg = make_config("train", [f"trainer={option}"])
    with open_dict(cfg):
        if cfg.trainer.accelerator == "gpu":
            cfg.trainer.accelerator = "cpu"
    trainer = instantiate(cfg.trainer)
    assert isinstance(trainer, Trainer)


@pytest.mark.parametrize("option", options("callbacks"))
def test_callback_options(make_config, option):
    cfg = make_config("train", [f"callbacks={option}"])
    callbacks = instantiate_callbacks(cfg.callbacks)
    assert all(isinstance(c, Callback) for c in callbacks)


@pytest.mark.parametrize("option", options("logger"))
def test_logger_options(make_config, option):
    cfg = make_config("train", [f"logger={option}"])
    loggers = instantiate_loggers(cfg.logger)
    assert loggers and all(isinstance(lg, Logger) for lg in loggers)


@pytest.mark.parametrize("option", options("experiment"))
def test_experiment_options(make_config, option, no_random_fill):
    cfg = make_config("train", [f"experiment={option}", "backbone.pretrained=false"])
    with open_dict(cfg):
        # Benchmark experiments leave the data roots to the user (no preparer generates them).
        for key in ("metadata_root", "data_root"):
            if cfg.data.get("preparer") is None and (
                OmegaConf.is_missing(cfg.data, key) or cfg.data[key] is None
            ):
                cfg.data[key] = f"/{key}"
    module = instantiate(cfg.module)
    assert isinstance(module, WSOLLitModule)
    assert isinstance(instantiate(cfg.data), WSOLDataModule)
    with open_dict(cfg):
        cfg.trainer.accelerator = "cpu"
    assert isinstance(instantiate(cfg.trainer), Trainer)


@pytest.mark.parametrize("option", options("debug"))
def test_debug_options(make_config, option):
    cfg = make_config("train", [f"debug={option}"])
    assert isinstance(instantiate(cfg.trainer), Trainer)


@pytest.mark.parametrize("group", ["paths", "hydra", "extras"])
def test_plain_groups(make_config, group):
    for option in options(group):
        cfg = make_config("train", [f"{group}={option}"])
        OmegaConf.to_container(cfg, resolve=True)


def test_misspelled_override_names_the_key(make_config):
    with pytest.raises(ConfigCompositionException, match="data.batchsize"):
        make_config("train", ["data.batchsize=3"])


def test_unknown_option_names_the_group(make_config):
    with pytest.raises(ConfigCompositionException, match="method/camm"):
        make_config("train", ["method=camm"])


def test_misspelled_key_in_a_yaml_names_key_and_node(make_config, tmp_path: Path):
    cfg = make_config("train", [])
    with open_dict(cfg):
        cfg.data.batchsize = 3
    with pytest.raises(InstantiationException, match=r"batchsize(.|\n)*full_key: data"):
        instantiate(cfg.data)
