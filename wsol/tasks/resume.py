"""Resuming a run: which checkpoint ``ckpt_path=last`` means, which folder a resume continues
in, and whether the config of the resume matches the one the checkpoint was trained with."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, open_dict

from wsol.tasks.run_folder import claim, is_finished, is_run_folder, release

log = logging.getLogger("wsol")

# Stored keys a resume may change: where data live and how they are loaded, not what is learned.
SAFE_TO_CHANGE = (
    "data_dir",
    "data.num_workers",
    "data.pin_memory",
    "data.eval_batch_size",
    "data.check_files",
    "data.preparer.progress_bar",
    "module.channels_last",
    "class_names",
)
# Stored folders: equal when they lie at the same place relative to their data dir.
_FOLDERS = ("data.preparer.root", "data.metadata_root", "data.data_root", "data.mask_root")


def _last(run_dir: Path) -> Path:
    return run_dir / "checkpoints" / "last.ckpt"


def resolve_ckpt_path(ckpt_path: str | None, cfg: DictConfig) -> str | None:
    """A checkpoint path; ``"last"`` resumes an unfinished run of this run directory.

    ``last`` is this run's own ``last.ckpt`` (a fixed ``run_name``) when the run is unfinished,
    else the ``last.ckpt`` of the one unfinished run beside it (the same ``runs/`` or sweep
    folder). Finished runs (with a ``metrics.json``) are never resumed; several unfinished ones
    are refused, named, rather than guessed between.
    """
    if ckpt_path in (None, ""):
        return None
    if ckpt_path != "last":
        path = Path(ckpt_path)
        if not path.is_file():
            raise FileNotFoundError(f"ckpt_path: checkpoint not found: {path}")
        return str(path)
    own = Path(cfg.paths.output_dir)
    if _last(own).is_file():
        if is_finished(own):
            raise ValueError(
                f"ckpt_path=last: run {own} is finished (it has metrics.json); it is left as "
                "it is. Choose another run_name, or ckpt_path=<path> to start a new run from it"
            )
        log.info("ckpt_path=last resumes this run's own %s", _last(own))
        return str(_last(own))
    runs = own.parent
    siblings = runs.iterdir() if runs.is_dir() else []
    found = sorted(d for d in siblings if d != own and _last(d).is_file())
    unfinished = [d for d in found if not is_finished(d)]
    finished = ", ".join(d.name for d in found if is_finished(d)) or "none"
    if not unfinished:
        raise FileNotFoundError(
            f"ckpt_path=last: no last.ckpt of an unfinished run in {runs} (finished runs, left "
            f"alone: {finished}); give a checkpoint path instead"
        )
    if len(unfinished) > 1:
        names = ", ".join(d.name for d in unfinished)
        raise ValueError(
            f"ckpt_path=last: {len(unfinished)} unfinished runs in {runs} ({names}); pick one "
            "with run_name=<name> or ckpt_path=<path>"
        )
    log.info(
        "ckpt_path=last resumes %s: the only unfinished run in %s (finished, left alone: %s)",
        _last(unfinished[0]),
        runs,
        finished,
    )
    return str(_last(unfinished[0]))


def continue_in_run_dir(cfg: DictConfig, ckpt_path: str) -> bool:
    """Resume inside the interrupted run's own folder when that is a wsol run folder that is
    unfinished and held by no other run; returns whether the run continues in an existing
    folder.

    Checkpoints, TensorBoard events, the log file and metrics.json then continue where they
    were, and ModelCheckpoint keeps the best score of the epochs before the interruption (it
    drops that state when its directory changes). The folder of this invocation is folded into
    the run (its ``.hydra`` goes to ``<run>/.hydra/resume-<name>``), so a resume leaves no stray
    folder. A finished run, or a checkpoint outside a wsol run folder (a shared models folder),
    is never written to: training from it starts in this invocation's own folder.
    """
    path = Path(ckpt_path).absolute()
    run_dir = path.parent.parent
    fresh = Path(cfg.paths.output_dir).absolute()
    if path.parent.name != "checkpoints" or not is_run_folder(run_dir):
        log.info("%s is not in a wsol run folder: training from it in a new run", path)
        return False
    if is_finished(run_dir):
        log.info("%s is a finished run: training from its checkpoint in a new run folder", run_dir)
        return False
    if fresh.resolve() == run_dir.resolve():
        return True
    claim(run_dir, resume=True)
    log.info("Resuming run %s", run_dir)
    with open_dict(cfg):
        cfg.paths.output_dir = str(run_dir)
    release(fresh, remove_marker=True)
    _fold_into(fresh, run_dir)
    return True


def _fold_into(fresh: Path, run_dir: Path) -> None:
    """Move Hydra's files of this invocation from ``fresh`` into ``run_dir`` and drop ``fresh``.

    The job's log file (what it holds so far, then its handler) continues, appending, at the
    same name in ``run_dir``.
    """
    if not fresh.is_dir():
        return
    for handler in list(logging.getLogger().handlers):
        name = getattr(handler, "baseFilename", None)
        if name is None or Path(name).parent != fresh:
            continue
        logging.getLogger().removeHandler(handler)
        handler.close()
        kept = run_dir / Path(name).name
        with kept.open("a") as log_file:  # this invocation's first lines, then the rest
            log_file.write(Path(name).read_text())
        moved = logging.FileHandler(kept, mode="a")
        moved.setFormatter(handler.formatter)
        moved.setLevel(handler.level)
        logging.getLogger().addHandler(moved)
        Path(name).unlink(missing_ok=True)
    hydra_dir = fresh / ".hydra"
    if hydra_dir.is_dir():
        target = run_dir / ".hydra" / f"resume-{fresh.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(hydra_dir), str(target))
    try:
        fresh.rmdir()
    except OSError:
        log.warning("%s is not empty; left in place", fresh)


def _flat(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(_flat(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: node}


def _relative(value: Any, data_dir: Any) -> Any:
    if not isinstance(value, str) or not isinstance(data_dir, str):
        return value
    relative = os.path.relpath(os.path.normpath(value), os.path.normpath(data_dir))
    return value if relative.startswith("..") else ("<data_dir>", relative)


def changed_keys(stored: dict, current: dict) -> list[str]:
    """Stored keys whose value differs in ``current`` (both ``config_to_store`` dicts),
    except :data:`SAFE_TO_CHANGE`; folders compare relative to their own data dir."""
    old, new = _flat(stored), _flat(current)
    changed = []
    for key in sorted(set(old) | set(new)):
        if key in SAFE_TO_CHANGE or key.split(".")[0] in SAFE_TO_CHANGE:
            continue
        a, b = old.get(key, "<absent>"), new.get(key, "<absent>")
        if key in _FOLDERS:
            a, b = _relative(a, stored.get("data_dir")), _relative(b, current.get("data_dir"))
        if a != b:
            changed.append(f"{key}: {old.get(key, '<absent>')!r} -> {new.get(key, '<absent>')!r}")
    return changed


def check_resume_config(stored: dict, current: dict, ckpt_path: str) -> None:
    """Refuse a resume whose config differs from the checkpoint's in keys that change what is
    learned (the optimizer state, epoch and weights are restored from the checkpoint: a new
    learning rate or batch size would silently not apply, or mix two runs in one).

    Raises:
        ValueError: naming every changed key, its stored and its new value.
    """
    changed = changed_keys(stored, current)
    if changed:
        raise ValueError(
            f"ckpt_path={ckpt_path}: resuming with a config that differs from the checkpoint's "
            "(nothing was run):\n  " + "\n  ".join(changed) + "\nResume with the stored values, "
            "or start a new run without ckpt_path. Keys a resume may change: "
            + ", ".join(SAFE_TO_CHANGE)
        )
