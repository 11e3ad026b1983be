"""Triggers of the catalogue cases of the second trust pass (issue 21).

A trigger raises the error the command would exit with (status 1 under the CLI), returns a
``subprocess.CompletedProcess`` when it ran a console script itself, or returns normally (an
accepted input, status 0). The unsafe cases assert inside the trigger that the files they name
stayed byte-identical.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import numpy as np
from omegaconf import OmegaConf
from PIL import Image

from tests.conftest import compose_config
from tests.helpers.cli import run_cli
from tests.reliability.hostile import hostile_checkpoint, no_side_effect, payloads

# Cases that run a console script (slow: a process start each).
CLI_CASES = {
    "ckpt-write-split",
    "ckpt-write-parts",
    "ckpt-resume-writer",
    "run-finished-name",
    "run-same-name",
    "run-in-use",
    "run-name-escape",
    "multirun-bad-job",
    "eval-size-small",
}


def hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _metadata_folder(ctx) -> Path:
    """A metadata folder with content that a writer would truncate."""
    meta = ctx.tmp / "victim"
    meta.mkdir()
    for name in ("image_ids.txt", "class_labels.txt", "localization.txt"):
        (meta / name).write_text("a.png\n" if name == "image_ids.txt" else "a.png,0\n")
    return meta


# ------------------------------------------------------------------ checkpoint
def _writer_via_cli(command: str, name: str, where: str) -> Callable:
    def trigger(ctx):
        meta = _metadata_folder(ctx)
        before = hashes(meta)
        node = payloads(meta / "marker")[name]
        if name == "wsol.write_split":
            node = {**node, "metadata_dir": str(meta)}
        path = hostile_checkpoint(ctx.base_checkpoint(), ctx.tmp / "h.ckpt", where, node)
        args = [f"ckpt_path={path}", "extras.print_config=false"]
        if command == "wsol-predict":
            image = ctx.tmp / "image.png"
            Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(image)
            args += [f"input={image}", f"output={ctx.tmp / 'out'}"]
        result = run_cli(command, args, ctx.tmp, expect=None)
        assert hashes(meta) == before and no_side_effect(meta / "marker")
        assert not (meta / "parts.txt").exists() and not (ctx.tmp / "out").exists()
        runs = ctx.tmp / "logs" / command.removeprefix("wsol-") / "runs"
        assert not runs.is_dir() or not any(runs.iterdir()), "a refused run left its folder"
        return result

    return trigger


def _hostile_node(where: str, node) -> Callable:
    def trigger(ctx):
        from wsol.checkpoints.load import module_from_checkpoint

        path = hostile_checkpoint(ctx.base_checkpoint(), ctx.tmp / "h.ckpt", where, node)
        ctx.values["<ckpt>"] = str(path)
        module_from_checkpoint(path)
        assert no_side_effect(ctx.tmp / "marker")

    return trigger


def _data_outside(ctx):
    from wsol.checkpoints.safe_instantiate import instantiate_stored

    data = {
        "_target_": "wsol.data.datamodule.WSOLDataModule",
        "preparer": {
            "_target_": "wsol.data.synthetic.SyntheticPreparer",
            "root": "/elsewhere/synthetic",
        },
    }
    try:
        instantiate_stored(data, "ckpt", "data", data_dir=ctx.tmp / "data", stored_data_dir="/old")
    finally:
        assert not Path("/elsewhere").exists()


def _pretrained(ctx):
    from wsol.checkpoints.safe_instantiate import instantiate_stored

    def refuse(*args, **kwargs):
        raise AssertionError("a download or weights file was read")

    module = {
        "_target_": "wsol.methods.CAMMethod",
        "num_classes": 2,
        "backbone": {
            "_target_": "wsol.models.build_backbone",
            "name": "tiny",
            "pretrained": True,
            "weights_path": str(ctx.tmp / "weights.pth"),
        },
        "head": {
            "_target_": "wsol.models.pretrained_head.torchvision_fc_head",
            "_partial_": True,
            "pretrained": True,
        },
    }
    with (
        mock.patch("wsol.models.pretrained_head.torchvision_state_dict", refuse),
        mock.patch("wsol.models.pretrained_head.read_state_dict", refuse),
        mock.patch("torch.hub.load_state_dict_from_url", refuse),
    ):
        method = instantiate_stored(module, "ckpt", "module.method")
    assert method.num_classes == 2


# ------------------------------------------------------------------ run folder
def _finished(root: Path, name: str) -> Path:
    from wsol.tasks.run_folder import MARKER

    run = root / "logs" / "train" / "runs" / name
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.ckpt").write_bytes(b"weights")
    (run / "metrics.json").write_text("{}\n")
    (run / MARKER).write_text("{}\n")
    return run


def _train_cli(args: list[str], held: str | None = None, finished: str | None = None) -> Callable:
    def trigger(ctx):
        from wsol.tasks import run_folder

        folder = None
        if finished:
            folder = _finished(ctx.tmp, finished)
        if held:
            folder = run_folder.claim(ctx.tmp / "logs" / "train" / "runs" / held)
            (folder / "checkpoints").mkdir()
            (folder / "checkpoints" / "last.ckpt").write_bytes(b"weights")
        before = hashes(folder) if folder else None
        try:
            result = run_cli("wsol-train", args, ctx.tmp, expect=None)
        finally:
            if held:
                run_folder.release(folder)
        if folder is not None:
            assert hashes(folder) == before
            assert sorted(p.name for p in folder.parent.iterdir()) == [folder.name]
        else:
            assert not (ctx.tmp / "logs").exists() and not (ctx.tmp / "x").exists()
        return result

    return trigger


def _config(task: str, overrides: list[str]) -> Callable:
    def trigger(ctx):
        from wsol.configuration.validate import validate_config

        validate_config(compose_config(task, overrides, ctx.tmp))

    return trigger


def _shared_checkpoint(ctx):
    from wsol.tasks.resume import continue_in_run_dir

    shared = ctx.tmp / "models" / "checkpoints"
    shared.mkdir(parents=True)
    (shared / "x.ckpt").write_bytes(ctx.base_checkpoint().read_bytes())
    (shared / "last.ckpt").write_bytes(b"someone else's")
    before = hashes(ctx.tmp / "models")
    cfg = OmegaConf.create({"paths": {"output_dir": str(ctx.tmp / "run")}})
    assert continue_in_run_dir(cfg, str(shared / "x.ckpt")) is False
    assert cfg.paths.output_dir == str(ctx.tmp / "run")
    assert hashes(ctx.tmp / "models") == before


def _resume_changed(ctx):
    from wsol.tasks.resume import check_resume_config

    stored = {"module": {"optimizer": {"lr": 0.01}}, "data": {"batch_size": 32}}
    current = {"module": {"optimizer": {"lr": 0.5}}, "data": {"batch_size": 32}}
    check_resume_config(stored, current, "run/checkpoints/last.ckpt")


def _copied_best(ctx):
    from lightning.pytorch.callbacks import ModelCheckpoint

    from wsol.tasks.common import checkpoint_to_evaluate

    callback = ModelCheckpoint(dirpath=ctx.tmp / "copy" / "checkpoints", monitor="val/x")
    callback.best_model_path = str(ctx.tmp / "original" / "checkpoints" / "epoch_001.ckpt")
    checkpoint_to_evaluate(
        SimpleNamespace(checkpoint_callbacks=[callback]), "best", ctx.tmp / "copy"
    )


# ------------------------------------------------------------------ metadata / images
SPLIT = {
    "image_ids": b"a.png\nb.png\n",
    "class_labels": b"a.png,0\nb.png,1\n",
    "image_sizes": b"a.png,20,10\nb.png,20,10\n",
    "localization": b"a.png,0,0,19,9\nb.png,2,2,8,8\n",
}


def _metadata(**changes: bytes) -> Callable:
    def trigger(ctx):
        from wsol.data.formats.wsoleval import read_split

        meta = ctx.tmp / "meta"
        meta.mkdir()
        for stem, data in {**SPLIT, **changes}.items():
            (meta / f"{stem}.txt").write_bytes(data)
        read_split(meta, meta, num_classes=2, check_files=False)

    return trigger


def _record(root: Path, image: Path, mask: Path | None = None):
    from wsol.data.records import ImageRecord

    return ImageRecord(
        image_id=image.name,
        image_path=image,
        label=0,
        width=None,
        height=None,
        boxes=() if mask else ((0, 0, 3, 3),),
        mask_paths=(mask,) if mask else (),
        ignore_path=None,
    )


def _mask_size(ctx):
    from wsol.data.dataset import WSOLDataset

    image, mask = ctx.tmp / "a.png", ctx.tmp / "m.png"
    Image.fromarray(np.zeros((10, 20, 3), np.uint8)).save(image)
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(mask)
    WSOLDataset([_record(ctx.tmp, image, mask)], frame_size=16)[0]


def _bomb(skip: bool) -> Callable:
    def trigger(ctx):
        from wsol.data.dataset import WSOLDataset

        big, small = ctx.tmp / "big.png", ctx.tmp / "small.png"
        Image.new("1", (20000, 20000)).save(big)
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(small)
        records = [_record(ctx.tmp, big), _record(ctx.tmp, small)]
        sample = WSOLDataset(records, skip_bad_images=skip, with_boxes=False)[0]
        assert len(sample["skipped"]) == 1 and str(big) in sample["skipped"][0]

    return trigger


# ------------------------------------------------------------------ score maps
def _score_maps(ctx, ids: list[str], maps: dict[str, np.ndarray]) -> dict:
    from wsol.tasks.evaluate import evaluate

    meta = ctx.tmp / "meta"
    meta.mkdir()
    (meta / "image_ids.txt").write_text("".join(f"{i}\n" for i in ids))
    (meta / "class_labels.txt").write_text("".join(f"{i},0\n" for i in ids))
    (meta / "image_sizes.txt").write_text("".join(f"{i},16,16\n" for i in ids))
    (meta / "localization.txt").write_text("".join(f"{i},2,2,10,10\n" for i in ids))
    cams = ctx.tmp / "cams"
    for name, array in maps.items():
        (cams / name).parent.mkdir(parents=True, exist_ok=True)
        np.save(cams / name, array)
    overrides = ["extras.print_config=false", f"cams_dir={cams}", f"metadata_dir={meta}"]
    cfg = compose_config("eval", [*overrides, "frame_size=16"], ctx.tmp)
    return evaluate(cfg)


def _map(bad) -> Callable:
    def trigger(ctx):
        good = np.random.default_rng(0).random((16, 16))
        metrics = _score_maps(
            ctx, ["t/a.png", "t/b.png"], {"t/a.png.npy": bad, "t/b.png.npy": good}
        )
        assert "test/maxboxaccv2" in metrics

    return trigger


def _flat_collision(ctx):
    _score_maps(ctx, ["cat/x.png", "dog/x.png"], {"x.png.npy": np.zeros((16, 16))})


# ------------------------------------------------------------------ predict / converters
def _predict_not_empty(ctx):
    from wsol.tasks.predict import prepare_output

    out = ctx.tmp / "out"
    out.mkdir()
    (out / "old.png").write_bytes(b"an overlay of another run")
    (out / "predictions.jsonl").write_text("{}\n")
    before = hashes(out)
    try:
        prepare_output(out, overwrite=False)
    finally:
        assert hashes(out) == before


def _predict_own_output(ctx):
    from wsol.data.image_files import list_images

    (ctx.tmp / "photos" / "out" / "overlays").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(ctx.tmp / "photos" / "a.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(ctx.tmp / "photos/out/overlays/a.png")
    files, _ = list_images(ctx.tmp / "photos", recursive=True, exclude=ctx.tmp / "photos" / "out")
    assert files == [ctx.tmp / "photos" / "a.png"]


def _prepare_folder_twice(ctx):
    from wsol.data.formats.folder import prepare_folder

    root = ctx.tmp / "root"
    for cls in ("cat", "dog"):
        (root / cls).mkdir(parents=True)
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / cls / "1.png")
    for _ in range(2):
        prepare_folder(root, root / "meta", progress=False)
    assert (root / "meta" / "class_names.txt").read_text().split() == ["cat", "dog"]


TRIGGERS: dict[str, Callable] = {
    "ckpt-write-split": _writer_via_cli(
        "wsol-eval", "wsol.write_split", "module.method.backbone.hostile"
    ),
    "ckpt-write-parts": _writer_via_cli(
        "wsol-predict", "wsol.write_parts", "module.method.head.hostile"
    ),
    "ckpt-resume-writer": _writer_via_cli(
        "wsol-train", "wsol.write_split", "module.optimizer.hostile"
    ),
    "ckpt-convert": _hostile_node("data.preparer", payloads(Path("marker"))["wsol.convert"]),
    "ckpt-download": _hostile_node(
        "module.method.backbone", payloads(Path("marker"))["wsol.torchvision_state_dict"]
    ),
    "ckpt-method-kind": _hostile_node("module.method", {"_target_": "wsol.models.heads.GAPHead"}),
    "ckpt-unknown-key": _hostile_node("module.method.surprise", 1),
    "ckpt-hydra-option": _hostile_node("module.method._recursive_", False),
    "ckpt-data-outside": _data_outside,
    "ckpt-pretrained": _pretrained,
    "run-finished-name": _train_cli(["run_name=done"], finished="done"),
    "run-same-name": _train_cli(["run_name=busy"], held="busy"),
    "run-in-use": _train_cli(["run_name=busy", "ckpt_path=last"], held="busy"),
    "run-name-escape": _train_cli(["run_name=../../../x"]),
    "run-name-absolute": _config("train", ["run_name=/tmp/x"]),
    "run-name-number": _config("train", ["run_name=12345"]),
    "run-shared-ckpt": _shared_checkpoint,
    "run-resume-changed": _resume_changed,
    "run-copied-best": _copied_best,
    "id-dotdot": _metadata(image_ids=b"../x.png\nb.png\n"),
    "id-absolute": _metadata(image_ids=b"/etc/passwd\nb.png\n"),
    "id-normalized-duplicate": _metadata(image_ids=b"a.png\n./a.png\n"),
    "mask-dotdot": _metadata(localization=b"a.png,../m.png,\nb.png,2,2,8,8\n"),
    "mask-size": _mask_size,
    "bomb": _bomb(skip=False),
    "bomb-skipped": _bomb(skip=True),
    "flat-collision": _flat_collision,
    "big-endian": _map(np.random.default_rng(1).random((16, 16)).astype(">f8")),
    "float16": _map(np.random.default_rng(1).random((16, 16)).astype(np.float16)),
    "one-by-one": _map(np.full((1, 1), 0.5)),
    "inf": _map(np.full((16, 16), np.inf)),
    "predict-not-empty": _predict_not_empty,
    "predict-own-output": _predict_own_output,
    "prepare-folder-twice": _prepare_folder_twice,
    "lr-nan": _config("train", ["module.optimizer.lr=nan"]),
    "interval-nan": _config("train", ["eval.cam_curve_interval=nan"]),
    "mean": _config("train", ["data.mean=[0.5,0.5,2.0]"]),
    "weight-decay": _config("train", ["module.optimizer.weight_decay=-1"]),
    "max-epochs-0": _config("train", ["trainer.max_epochs=0"]),
    "best-no-monitor": _config("train", ["eval_checkpoint=best", "callbacks=none"]),
    "optimized-unknown": _config("train", ["optimized_metric=val/maxboxacc_v3"]),
    "multirun-bad-job": lambda ctx: _multirun(ctx),
    "eval-size-small": lambda ctx: _eval_size_small(ctx),
}


def _eval_size_small(ctx):
    result = run_cli("wsol-train", ["data.eval_size=8", "run_name=small"], ctx.tmp, None)
    assert not (ctx.tmp / "logs" / "train" / "runs" / "small").exists()  # refused: no folder
    return result


def _multirun(ctx):
    result = run_cli("wsol-train", ["-m", "data.batch_size=8,0", "run_name=sweep"], ctx.tmp, None)
    assert not (ctx.tmp / "logs").exists()
    return result


__all__ = ["CLI_CASES", "TRIGGERS"]
