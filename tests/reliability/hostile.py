"""Hostile checkpoints: a real small checkpoint whose stored config was edited to run code,
including wsol's own functions that write files or download weights."""

from __future__ import annotations

import copy
import os
import socket
from pathlib import Path

import torch


def payloads(marker: Path) -> dict[str, dict]:
    """Stored nodes that create ``marker`` (a file, or through a process) when built."""
    return {
        "builtins.open": {"_target_": "builtins.open", "file": str(marker), "mode": "w"},
        "pathlib.Path.write_text": {
            "_target_": "pathlib.Path.write_text",
            "self": {"_target_": "pathlib.Path", "_args_": [str(marker)]},
            "data": "written by a checkpoint",
        },
        "subprocess.run": {
            "_target_": "subprocess.run",
            "_args_": [["touch", str(marker)]],
            "_convert_": "all",
        },
        "os.system": {"_target_": "os.system", "_args_": [f"touch {marker}"]},
        # Inside the package's name space but reaching another module's function.
        "wsol.tasks.train.subprocess.run": {
            "_target_": "wsol.tasks.train.subprocess.run",
            "_args_": [["touch", str(marker)]],
            "_convert_": "all",
        },
        # Smuggled through a resolver: the node appears only when the value is resolved.
        "oc.create": "${oc.create:{_target_: os.system, _args_: ['touch " + str(marker) + "']}}",
        # wsol's own writers and downloader: public callables of the package, never stored.
        "wsol.write_split": {
            "_target_": "wsol.data.formats.wsoleval.write_split",
            "records": [],
            "metadata_dir": str(marker),
            "data_root": str(marker.parent),
        },
        "wsol.write_parts": {
            "_target_": "wsol.data.synthetic.parts.write_parts",
            "parts": [],
            "metadata_dir": str(marker.parent),
        },
        "wsol.convert": {
            "_target_": "wsol.data.formats.convert.convert",
            "candidates": [],
            "out_dir": str(marker),
            "data_root": str(marker.parent),
            "progress": False,
        },
        "wsol.torchvision_state_dict": {
            "_target_": "wsol.models.weights.torchvision_state_dict",
            "weights_name": "ResNet18_Weights.IMAGENET1K_V1",
        },
    }


# Where a payload goes in the stored config (deep in every group), and the key path of the
# node the refusal must name; "[1].deep" puts it inside a list.
PLACES = (
    "module.method.backbone.hostile",
    "module.optimizer.hostile",
    "module.scheduler.hostile",
    "data.preparer.hostile",
    "backbone.hostile",
    "method.hostile",
    "eval.hostile",
    "module.method.hostile[1].deep",
    # In place of the nodes a checkpoint does build.
    "module.method.backbone",
    "module.method.head",
    "module.method",
    "module.scheduler",
    "data.preparer",
    "data",
)


def hostile_checkpoint(source: Path, out: Path, where: str, node, partial: bool = False) -> Path:
    """``source`` with ``node`` put at ``where`` of its stored config, saved at ``out``."""
    checkpoint = torch.load(source, map_location="cpu", weights_only=True)
    node = copy.deepcopy(node)
    if partial and isinstance(node, dict):
        node["_partial_"] = True
    keys, _, in_list = where.partition("[1].")
    if in_list:
        node = [0, {in_list: node}]
    *parents, last = keys.split(".")
    parent = checkpoint["hyper_parameters"]["run_config"]
    for key in parents:
        parent = parent.setdefault(key, {})
    parent[last] = node
    torch.save(checkpoint, out)
    return out


def refused_key(where: str, node) -> str:
    """The key path the refusal names: the node's ``_target_``, or the resolver string."""
    return f"{where}._target_" if isinstance(node, dict) else where


def refuse_downloads(monkeypatch) -> None:
    """Make any download (torch.hub) or network connection fail the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"a download was started: {args!r}")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def no_side_effect(marker: Path) -> bool:
    """True when the marker (file, folder or process output) does not exist, nor the file
    ``write_parts`` would write beside it."""
    return not os.path.lexists(marker) and not os.path.lexists(marker.parent / "parts.txt")
