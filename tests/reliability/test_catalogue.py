"""Every case of the bad-input catalogue: exit status and the message naming file, line or key.

Cases run in-process (the task functions, readers and loaders the commands call; an exception
is exit status 1 under the CLI); a few run the console scripts to pin that mapping and that no
run folder is created for a config that fails validation.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from tests.conftest import compose_config
from tests.helpers.cli import run_cli
from tests.reliability.catalogue import CASES, readme_current, readme_section
from tests.reliability.hostile import hostile_checkpoint, no_side_effect, payloads
from tests.reliability.second_pass import CLI_CASES
from tests.reliability.second_pass import TRIGGERS as SECOND_PASS
from wsol.tasks.interrupt import RunInterrupted, SignalCatcher

BY_ID = {case.id: case for case in CASES}

# A stored config of the shape wsol-train writes (no weights: refusals come before building).
RUN_CONFIG = {
    "module": {
        "_target_": "wsol.lit_module.WSOLLitModule",
        "method": {
            "_target_": "wsol.methods.CAMMethod",
            "backbone": {"_target_": "wsol.models.build_backbone", "name": "tiny"},
            "num_classes": 2,
        },
        "optimizer": {"_target_": "torch.optim.AdamW", "_partial_": True, "lr": 0.01},
        "scheduler": {"_target_": "torch.optim.lr_scheduler.StepLR", "_partial_": True},
    },
    "data": {"_target_": "wsol.data.datamodule.WSOLDataModule", "preparer": {"seed": 0}},
    "backbone": {"name": "tiny"},
    "method": {"num_classes": 2},
    "eval": {"cam_curve_interval": 0.01},
}


class Context:
    """Paths a case's placeholders stand for, and the test's folder."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.values: dict[str, str] = {}

    def base_checkpoint(self) -> Path:
        path = self.tmp / "base.ckpt"
        torch.save({"hyper_parameters": {"run_config": RUN_CONFIG}, "state_dict": {}}, path)
        return path


# ------------------------------------------------------------------ checkpoint
def _hostile(name: str, where: str, partial: bool = False) -> Callable[[Context], None]:
    def trigger(ctx: Context) -> None:
        from wsol.checkpoints.load import module_from_checkpoint

        marker = ctx.tmp / "marker"
        node = payloads(marker)[name]
        path = hostile_checkpoint(ctx.base_checkpoint(), ctx.tmp / "h.ckpt", where, node, partial)
        ctx.values["<ckpt>"] = str(path)
        try:
            module_from_checkpoint(path)
        finally:
            assert no_side_effect(marker)

    return trigger


def _train_from(make: Callable[[Context], Path]) -> Callable[[Context], None]:
    """A resume (wsol-train ckpt_path=...) from the checkpoint ``make`` writes."""

    def trigger(ctx: Context) -> None:
        from wsol.tasks.train import train

        path = make(ctx)
        ctx.values["<ckpt>"] = str(path)
        train(compose_config("train", [f"ckpt_path={path}"], ctx.tmp))

    return trigger


def _truncated(ctx: Context) -> Path:
    data = ctx.base_checkpoint().read_bytes()
    path = ctx.tmp / "truncated.ckpt"
    path.write_bytes(data[: len(data) // 2])
    return path


def _saved(obj) -> Callable[[Context], Path]:
    def make(ctx: Context) -> Path:
        path = ctx.tmp / "other.ckpt"
        torch.save(obj, path)
        return path

    return make


def _rebuild(make: Callable[[Context], Path]) -> Callable[[Context], None]:
    def trigger(ctx: Context) -> None:
        from wsol.checkpoints.load import module_from_checkpoint

        path = make(ctx)
        ctx.values["<ckpt>"] = str(path)
        module_from_checkpoint(path)

    return trigger


# ------------------------------------------------------------------ resume
def _runs(own: str, finished: tuple[str, ...], unfinished: tuple[str, ...]):
    def trigger(ctx: Context) -> None:
        from wsol.tasks.resume import resolve_ckpt_path

        runs = ctx.tmp / "runs"
        runs.mkdir()
        for name in (*finished, *unfinished):
            (runs / name / "checkpoints").mkdir(parents=True)
            (runs / name / "checkpoints" / "last.ckpt").write_bytes(b"")
            if name in finished:
                (runs / name / "metrics.json").write_text("{}")
        ctx.values["<dir>"] = str(runs)
        cfg = OmegaConf.create({"paths": {"output_dir": str(runs / own)}})
        resolve_ckpt_path("last", cfg)

    return trigger


# ------------------------------------------------------------------ signal
def _signal(signum: int) -> Callable[[Context], None]:
    def trigger(ctx: Context) -> None:
        with SignalCatcher():
            os.kill(os.getpid(), signum)

    return trigger


# ------------------------------------------------------------------ config
def _config(task: str, overrides: list[str]) -> Callable[[Context], None]:
    def trigger(ctx: Context) -> None:
        from wsol.configuration.validate import validate_config

        validate_config(compose_config(task, overrides, ctx.tmp))

    return trigger


# ------------------------------------------------------------------ metadata
SPLIT = {
    "image_ids": b"a.png\nb.png\n",
    "class_labels": b"a.png,0\nb.png,1\n",
    "image_sizes": b"a.png,20,10\nb.png,20,10\n",
    "localization": b"a.png,0,0,19,9\nb.png,2,2,8,8\n",
}


def _metadata(**changes: bytes) -> Callable[[Context], None]:
    def trigger(ctx: Context) -> None:
        from wsol.data.formats.wsoleval import read_split

        meta = ctx.tmp / "meta"
        meta.mkdir()
        for stem, data in {**SPLIT, **changes}.items():
            if data is not None:
                (meta / f"{stem}.txt").write_bytes(data)
        read_split(meta, meta, num_classes=2, check_files=False)

    return trigger


# ------------------------------------------------------------------ score maps / eval
def _scoring_split(root: Path, bom: bool = False) -> Path:
    meta = root / "meta"
    meta.mkdir(parents=True)
    ids = ["test/a.png", "test/b.png"]
    files = {
        "image_ids": "".join(f"{i}\n" for i in ids),
        "class_labels": "".join(f"{i},0\n" for i in ids),
        "image_sizes": "".join(f"{i},16,16\n" for i in ids),
        "localization": "test/a.png,2,2,10,10\ntest/b.png,4,4,12,14\n",
    }
    for stem, text in files.items():
        data = text.encode()
        (meta / f"{stem}.txt").write_bytes(b"\xef\xbb\xbf" + data if bom else data)
    return meta


def _maps(root: Path, bad=None, extra: bool = False, drop: bool = False) -> Path:
    """Maps of both images (16x16 float64); test/a.png's replaced by ``bad`` (an array, raw
    bytes or "npz") or dropped; ``extra`` adds a map that no metadata line names."""
    cams = root / "cams"
    (cams / "test").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for image_id in ("test/a.png", "test/b.png"):
        np.save(cams / f"{image_id}.npy", rng.random((16, 16)))
    target = cams / "test" / "a.png.npy"
    if drop:
        target.unlink()
    elif isinstance(bad, bytes):
        target.write_bytes(bad)
    elif isinstance(bad, str):
        with open(target, "wb") as handle:
            np.savez(handle, cam=rng.random((16, 16)))
    elif bad is not None:
        np.save(target, bad)
    if extra:
        np.save(cams / "test" / "zzz.png.npy", rng.random((16, 16)))
    return cams


def _evaluate(ctx: Context, overrides: list[str]) -> dict:
    from wsol.tasks.evaluate import evaluate

    cfg = compose_config("eval", ["extras.print_config=false", *overrides], ctx.tmp)
    return evaluate(cfg)


def _score(bad=None, extra: bool = False, drop: bool = False) -> Callable[[Context], None]:
    def trigger(ctx: Context) -> None:
        meta = _scoring_split(ctx.tmp)
        cams = _maps(ctx.tmp, bad, extra, drop)
        ctx.values["<dir>"] = str(cams)
        _evaluate(ctx, [f"cams_dir={cams}", f"metadata_dir={meta}", "frame_size=16"])

    return trigger


def _bom_scores_like_clean(ctx: Context) -> None:
    cams = _maps(ctx.tmp)
    args = [f"cams_dir={cams}", "frame_size=16"]
    clean = _evaluate(ctx, [*args, f"metadata_dir={_scoring_split(ctx.tmp / 'clean')}"])
    bom = _evaluate(ctx, [*args, f"metadata_dir={_scoring_split(ctx.tmp / 'bom', bom=True)}"])
    assert clean == bom and "test/maxboxaccv2" in clean


TRIGGERS: dict[str, Callable[[Context], None]] = {
    "ckpt-open": _hostile("builtins.open", "module.method.backbone.hostile"),
    "ckpt-write-text": _hostile("pathlib.Path.write_text", "data.preparer.hostile"),
    "ckpt-subprocess": _hostile("subprocess.run", "module.optimizer.hostile"),
    "ckpt-os-system-partial": _hostile("os.system", "eval.hostile", partial=True),
    "ckpt-in-list": _hostile("os.system", "module.method.hostile[1].deep"),
    "ckpt-reexport": _hostile("wsol.tasks.train.subprocess.run", "module.scheduler.hostile"),
    "ckpt-resolver": _hostile("oc.create", "backbone.hostile"),
    "ckpt-truncated": _train_from(_truncated),
    "ckpt-missing": _train_from(lambda ctx: ctx.tmp / "nowhere.ckpt"),
    "ckpt-no-config": _rebuild(_saved({"state_dict": {}})),
    "ckpt-not-mapping": _rebuild(_saved(torch.zeros(2))),
    "last-nothing": _runs("new", (), ()),
    "last-only-finished": _runs("new", ("done",), ()),
    "last-several": _runs("new", (), ("a", "b")),
    "last-own-finished": _runs("done", ("done",), ()),
    "sigterm": _signal(signal.SIGTERM),
    "sigint": _signal(signal.SIGINT),
    "max-epochs-abc": _config("train", ["trainer.max_epochs=abc"]),
    "erase-threshold": _config("train", ["method=acol", "method.erase_threshold=1.5"]),
    "eval-checkpoint": _config("train", ["eval_checkpoint=worst"]),
    "batch-size": _config("train", ["data.batch_size=0"]),
    "eval-batch-size": _config("train", ["data.eval_batch_size=-4"]),
    "num-workers": _config("train", ["data.num_workers=-1"]),
    "interval": _config("train", ["eval.cam_curve_interval=0"]),
    "iou": _config("train", ["eval.iou_thresholds=[50,120]"]),
    "val-every": _config("train", ["trainer.check_val_every_n_epoch=0"]),
    "scheduler-interval": _config("train", ["module.scheduler_interval=sometimes"]),
    "lr": _config("train", ["module.optimizer.lr=-0.1"]),
    "optimizer-typo": _config("train", ["+module.optimizer.lrr=0.1"]),
    "trainer-typo": _config("train", ["+trainer.max_epoch=3"]),
    "callback-type": _config("train", ["callbacks.cam_heatmaps.every_n_epochs=often"]),
    "seed": _config("train", ["seed=-1"]),
    "missing-block": _config("train", ["method=spg", "backbone=vgg16"]),
    "frame-size": _config("eval", ["frame_size=0"]),
    "top-k": _config("predict", ["top_k=0"]),
    "predict-threshold": _config("predict", ["threshold=1.0"]),
    "alpha": _config("predict", ["alpha=2"]),
    "predict-batch": _config("predict", ["batch_size=0"]),
    "bom": _bom_scores_like_clean,
    "latin1": _metadata(class_labels=b"a.png,0\nb\xe9.png,1\n"),
    "latin1-ids": _metadata(image_ids=b"caf\xe9.png\nb.png\n"),
    "fields": _metadata(class_labels=b"a.png,0\nb.png\n"),
    "not-integer": _metadata(image_sizes=b"a.png,20,10\nb.png,x,10\n"),
    "missing-file": _metadata(class_labels=None),
    "npz": _score("npz"),
    "empty": _score(np.zeros((0, 0))),
    "layout": _score(np.zeros((1, 16, 16))),
    "dtype": _score(np.zeros((16, 16), np.int64)),
    "nan": _score(np.full((16, 16), np.nan)),
    "range": _score(np.full((16, 16), 2.0)),
    "garbage": _score(b"not a numpy file"),
    "absent": _score(drop=True),
    "unmatched": _score(extra=True),
    "eval-nothing": lambda ctx: _evaluate(ctx, []),
    "cams-no-metadata": lambda ctx: _evaluate(ctx, [f"cams_dir={ctx.tmp}"]),
    "cams-not-dir": lambda ctx: _evaluate(
        ctx, [f"cams_dir={ctx.tmp / 'nothing'}", f"metadata_dir={ctx.tmp}"]
    ),
}


TRIGGERS.update(SECOND_PASS)
# A raw error of a library or the OS as the command's last word (not a wsol message).
RAW_ERROR = re.compile(
    r"^(torch\.|numpy\.|PIL\.|_pickle\.|OSError|IsADirectoryError|PermissionError|"
    r"RuntimeError|IndexError|KeyError|AttributeError|TypeError)\S*:",
    re.MULTILINE,
)


def test_every_case_has_a_trigger_and_there_are_enough():
    assert set(TRIGGERS) == set(BY_ID) and len(CASES) >= 40
    assert len(BY_ID) == len(CASES)  # ids are unique


@pytest.mark.parametrize(
    "case_id",
    [pytest.param(i, marks=pytest.mark.slow) if i in CLI_CASES else i for i in BY_ID],
)
def test_case(case_id, tmp_path, caplog):
    case = BY_ID[case_id]
    ctx = Context(tmp_path)
    status, message, result = 0, "", None
    with caplog.at_level(logging.INFO, logger="wsol"):
        try:
            result = TRIGGERS[case_id](ctx)
        except RunInterrupted as error:
            status, message = error.exit_code, str(error)
        except Exception as error:  # noqa: BLE001 - the CLI's status 1
            status, message = 1, str(error)
    if isinstance(result, subprocess.CompletedProcess):  # run through the console script
        status, message = result.returncode, result.stdout + result.stderr
        assert not RAW_ERROR.search(message), message[-3000:]
    elif status == 0:
        message = caplog.text
    expected = case.message
    for placeholder, value in ctx.values.items():
        expected = expected.replace(placeholder, value)
    assert status == case.status, message
    assert expected in message, message


@pytest.mark.slow
@pytest.mark.parametrize(
    ("command", "case_id", "args"),
    [
        ("wsol-train", "max-epochs-abc", ["trainer.max_epochs=abc"]),
        ("wsol-eval", "frame-size", ["frame_size=0", "cams_dir=x", "metadata_dir=y"]),
        ("wsol-predict", "top-k", ["top_k=0", "ckpt_path=x", "input=y"]),
    ],
)
def test_cli_fails_validation_before_making_a_run_folder(tmp_path, command, case_id, args):
    result = run_cli(command, args, tmp_path, expect=BY_ID[case_id].status)
    assert BY_ID[case_id].message in result.stdout + result.stderr
    assert not (tmp_path / "logs").exists()


def test_readme_section_matches_the_catalogue():
    assert readme_current() == readme_section(), (
        "README section out of date: run `python -m tests.reliability.catalogue`"
    )
