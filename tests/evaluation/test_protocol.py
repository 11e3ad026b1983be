"""The protocol value: one list of settings, plain-data round trip, stored with the module."""

from __future__ import annotations

import io
import json
from functools import partial

import pytest
import torch

from wsol.configuration.validate import RULES
from wsol.evaluation.protocol import SETTINGS, Protocol
from wsol.lit_module import WSOLLitModule
from wsol.methods import CAMMethod
from wsol.models import build_backbone


def _module(**kwargs) -> WSOLLitModule:
    method = CAMMethod(build_backbone("tiny", widths=(4, 6, 8)), 3)
    return WSOLLitModule(method, optimizer=partial(torch.optim.SGD, lr=0.1), **kwargs)


def test_round_trip_through_plain_data_and_json():
    protocol = Protocol(0.001, (40, 60), True, 0.25)
    data = json.loads(json.dumps(protocol.to_dict()))
    assert data == {
        "cam_curve_interval": 0.001,
        "iou_thresholds": [40, 60],
        "loc_multi_contour": True,
        "loc_threshold": 0.25,
    }
    assert Protocol.from_dict(data) == protocol
    assert protocol.settings() == {k: v for k, v in data.items() if k != "loc_threshold"}
    with pytest.raises(AttributeError):
        protocol.cam_curve_interval = 0.1  # frozen


def test_bad_values_and_unknown_keys_name_the_key():
    with pytest.raises(ValueError, match=r"eval\.cam_curve_interval: must be a number in \(0, 1\)"):
        Protocol.from_dict({"cam_curve_interval": 0}, where="eval")
    with pytest.raises(ValueError, match=r"eval\.iou_thresholds: .* an integer in \(0, 100\)"):
        Protocol.from_dict({"iou_thresholds": [50, 120]}, where="eval")
    with pytest.raises(ValueError, match=r"eval: not protocol settings: \['iou'\]"):
        Protocol.from_dict({"iou": [50]}, where="eval")
    with pytest.raises(ValueError, match="loc_multi_contour"):
        Protocol(loc_multi_contour="yes")
    assert Protocol().replace(loc_threshold=float("nan")).loc_threshold is None


def test_config_validation_reads_the_protocols_own_rules():
    """configuration/validate lists no protocol setting of its own: its eval.* rules are
    SETTINGS."""
    eval_rules = {key: rule for key, rule in RULES.items() if key.startswith("eval.")}
    assert eval_rules == {f"eval.{name}": setting for name, setting in SETTINGS.items()}
    assert tuple(SETTINGS) == Protocol.NAMES


def test_module_stores_the_protocol_as_plain_data_in_its_checkpoint():
    module = _module(protocol={"cam_curve_interval": 0.001, "loc_multi_contour": True})
    module.loc_threshold.fill_(0.3)
    assert module.protocol == Protocol(0.001, (30, 50, 70), True, 0.3)
    buffer = io.BytesIO()
    torch.save(
        {"hyper_parameters": dict(module.hparams), "state_dict": module.state_dict()}, buffer
    )
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)
    assert loaded["hyper_parameters"]["protocol"] == module.protocol.settings()
    again = _module(protocol=loaded["hyper_parameters"]["protocol"])
    again.load_state_dict(loaded["state_dict"])
    assert again.protocol == module.protocol
    # The metrics of both splits are built from it (test takes the threshold when it starts).
    assert module.test_metrics.protocol.settings() == module.protocol.settings()
    assert module.test_metrics.metrics.iou_thresholds == (30, 50, 70)


def test_settings_given_one_by_one_still_load():
    """Checkpoints written before the protocol argument store module.cam_curve_interval..."""
    module = _module(cam_curve_interval=0.001, iou_thresholds=[30, 50], loc_multi_contour=True)
    assert module.protocol == Protocol(0.001, (30, 50), True)
    with pytest.raises(ValueError, match="module.protocol: not protocol settings"):
        _module(cam_curve_intervall=0.01)
    with pytest.raises(ValueError, match="not also"):
        _module(protocol={}, cam_curve_interval=0.01)


def test_a_given_loc_threshold_starts_the_buffer():
    assert _module(protocol=Protocol(loc_threshold=0.4)).protocol.loc_threshold == 0.4


def test_set_protocol_replaces_settings_only():
    module = _module()
    module.set_protocol(cam_curve_interval=0.001)
    assert module.protocol.cam_curve_interval == 0.001
    with pytest.raises(ValueError, match="not an evaluation protocol setting"):
        module.set_protocol(loc_threshold=0.5)


def test_the_eval_config_group_defaults_are_the_protocols():
    from omegaconf import OmegaConf

    from tests.conftest import CONFIG_DIR

    default = OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "eval" / "default.yaml"))
    assert Protocol.from_dict(default, where="eval") == Protocol()


def test_a_stored_hydra_config_list_is_a_valid_iou_list():
    """A checkpoint's stored eval node holds a ListConfig, not a list: it must load."""
    from omegaconf import OmegaConf

    stored = OmegaConf.create({"iou_thresholds": [30, 50, 70], "cam_curve_interval": 0.001})
    protocol = Protocol.from_dict(stored, where="eval")
    assert protocol.iou_thresholds == (30, 50, 70)
    assert Protocol(iou_thresholds=stored.iou_thresholds).iou_thresholds == (30, 50, 70)
    with pytest.raises(ValueError, match="eval.iou_thresholds"):
        Protocol.from_dict({"iou_thresholds": "305070"}, where="eval")
