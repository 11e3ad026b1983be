"""The schema of a stored config: what a checkpoint may build, by key path, checked whole
before anything is built; no downloads; stored folders re-rooted under the current data dir."""

from __future__ import annotations

import copy
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import wsol.methods
from tests.conftest import compose_config
from tests.reliability.hostile import refuse_downloads
from wsol.checkpoints import safe_instantiate
from wsol.checkpoints.safe_instantiate import (
    UntrustedConfigError,
    check_stored_config,
    instantiate_stored,
    reroot,
)
from wsol.methods.base import WSOLMethod
from wsol.tasks.common import config_to_store


@pytest.fixture
def no_downloads(monkeypatch):
    refuse_downloads(monkeypatch)


def stored(tmp_path: Path, overrides: list[str] = ()) -> dict:
    cfg = compose_config("train", list(overrides), tmp_path)
    config = config_to_store(cfg)
    config["class_names"] = ["a", "b"]
    return config


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["method=acol"],
        ["method=adl"],
        ["method=has"],
        ["method=cutmix"],
        ["method=spg"],
        ["method=fsl"],
        ["method=center"],
        ["experiment=cub_vgg16_spg"],
        ["backbone=vit_b_16"],
        ["module=sgd_step"],
        ["experiment=imagenet_resnet50_cam"],
        ["backbone=vgg16_pool3x3", "method=acol"],
    ],
)
def test_the_configs_own_stored_configs_are_admitted(tmp_path, overrides):
    check_stored_config(stored(tmp_path, overrides), "ckpt")


def _method_classes() -> list[type]:
    for info in pkgutil.iter_modules(wsol.methods.__path__, "wsol.methods."):
        importlib.import_module(info.name)
    found, todo = [], [WSOLMethod]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("wsol.") and not inspect.isabstract(sub):
                found.append(sub)
    return found


def test_any_method_class_of_the_package_is_admitted_under_method():
    classes = _method_classes()
    assert len(classes) >= 5  # cam, acol, adl, has, cutmix, posthoc...
    for cls in classes:
        target = f"{cls.__module__}.{cls.__qualname__}"
        check_stored_config({"_target_": target}, "ckpt", "module.method")
        check_stored_config({"_target_": target}, "ckpt", "method")


@pytest.mark.parametrize(
    ("key", "target"),
    [
        ("module.method", "wsol.models.heads.GAPHead"),  # a head is not a method
        ("module.method.backbone", "wsol.models.tiny.TinyBackbone"),  # only the builder entry
        ("module.method.backbone", "wsol.data.formats.wsoleval.write_split"),
        ("module.method.head", "wsol.data.synthetic.parts.write_parts"),
        ("module.method.head", "wsol.methods.posthoc.load_classifier"),
        ("module.optimizer", "torch.optim.lr_scheduler.StepLR"),  # a scheduler is no optimizer
        ("module.scheduler", "wsol.models.weights.torchvision_state_dict"),
        ("data.preparer", "wsol.data.formats.convert.convert"),
        ("data", "wsol.data.synthetic.generate.generate_benchmark"),
        ("eval", "wsol.lit_module.WSOLLitModule"),  # eval builds nothing
        ("module", "wsol.methods.CAMMethod"),
    ],
)
def test_a_slot_admits_only_its_own_kind(key, target):
    parent, _, name = key.rpartition(".")
    config: dict = {}
    node = config
    for part in key.split("."):
        node = node.setdefault(part, {})
    node["_target_"] = target
    with pytest.raises(UntrustedConfigError) as error:
        check_stored_config(config, "/runs/x/last.ckpt")
    message = str(error.value)
    assert message.startswith("/runs/x/last.ckpt: refused before building anything")
    assert f"{key}._target_ = {target!r} is not allowed" in message


def test_unknown_keys_and_hydra_options_are_refused_before_anything_is_built(tmp_path, monkeypatch):
    def built(*args, **kwargs):
        raise AssertionError("something was built")

    monkeypatch.setattr(safe_instantiate, "instantiate", built)
    config = stored(tmp_path)
    cases = {
        ("module", "method", "head", "surprise"): "module.method.head.surprise is not a "
        "parameter of wsol.models.heads.GAPHead",
        ("module", "bogus"): "module.bogus is not a parameter of wsol.lit_module.WSOLLitModule",
        ("data", "preparer", "_args_"): "data.preparer._args_ (of wsol.data.synthetic."
        "SyntheticPreparer) is a Hydra option",
        ("module", "method", "_recursive_"): "module.method._recursive_",
        ("module", "optimizer", "_partial_"): "module.optimizer._partial_ (of torch.optim.AdamW) "
        "must be true or false",
    }
    for path, expected in cases.items():
        hostile = copy.deepcopy(config)
        node = hostile
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = "yes" if path[-1] == "_partial_" else 1
        group = path[0]
        with pytest.raises(UntrustedConfigError, match=re.escape(expected)):
            instantiate_stored(hostile[group], "ckpt", group, data_dir=tmp_path)


def test_a_stored_config_never_downloads_weights(tmp_path, no_downloads):
    config = stored(tmp_path)
    method = config["module"]["method"]
    method["backbone"] = {
        "_target_": "wsol.models.build_backbone",
        "name": "resnet18",
        "pretrained": True,
        "weights_path": str(tmp_path / "missing.pth"),
    }
    method["head"] = {
        "_target_": "wsol.models.pretrained_head.torchvision_fc_head",
        "_partial_": True,
        "weights": "ResNet50_Weights.IMAGENET1K_V1",
        "pretrained": True,
        "weights_path": str(tmp_path / "missing.pth"),
    }
    module = instantiate_stored(config["module"], "ckpt", "module", _partial_=True)(
        run_config=config
    )
    assert module.method.backbone.out_channels == 512  # built, with no weights read


def test_stored_folders_are_rerooted_under_the_current_data_dir(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    data = {
        "_target_": "wsol.data.datamodule.WSOLDataModule",
        "metadata_root": str(old / "mine" / "meta"),
        "data_root": str(old / "mine" / "images"),
        "preparer": {
            "_target_": "wsol.data.synthetic.SyntheticPreparer",
            "root": str(old / "synthetic"),
        },
    }
    module = instantiate_stored(data, "ckpt", "data", data_dir=new, stored_data_dir=str(old))
    assert Path(module.preparer.root) == new / "synthetic"
    assert not old.exists() and not new.exists()  # nothing generated or created


@pytest.mark.parametrize(
    "root",
    ["/etc/wsol", "{old}/../escape", "{old}/../../x", "relative/synthetic"],
)
def test_stored_folders_outside_the_data_dirs_are_refused(tmp_path, root):
    old = tmp_path / "old"
    value = root.format(old=old)
    with pytest.raises(UntrustedConfigError, match="data.preparer.root = .* lies outside"):
        reroot(value, "data.preparer.root", "ckpt", tmp_path / "new", str(old))


def test_a_folder_inside_the_current_data_dir_stays(tmp_path):
    inside = tmp_path / "new" / "cub"
    assert reroot(str(inside), "data.data_root", "ckpt", tmp_path / "new", None) == str(inside)
    with pytest.raises(UntrustedConfigError, match="no data dir"):
        reroot(str(inside), "data.data_root", "ckpt", None, None)
