"""Analyses of a finished run's last checkpoint: part/whole coverage and each declared map.

``analyse_run(run_dir)`` evaluates ``checkpoints/last.ckpt`` on a split with
:func:`wsol.analysis.part_whole.evaluate_part_whole` (protocol metrics plus object and part
coverage where the split has masks / a ``parts.txt``) under the checkpoint's own protocol, so
its metrics are those of the run's ``metrics.json``; then every extra map the method declares
(``WSOLMethod.extra_maps``, read through ``WSOLMethod.extra_map``) as a map of its own, under
the same protocol at its own validation threshold. The result is cached next to the checkpoint
(``analyses.json``) and recomputed when the checkpoint is newer.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from lightning.pytorch import LightningDataModule

from wsol.analysis.part_whole import evaluate_part_whole
from wsol.checkpoints.load import module_from_checkpoint
from wsol.checkpoints.safe_instantiate import instantiate_stored
from wsol.data.records import Box
from wsol.data.synthetic import read_parts
from wsol.evaluation.loop import View, extra_map_view

CACHE_FILE = "analyses.json"
#: Keys of evaluate_part_whole's result kept in the summary.
KEPT = ("maxboxaccv2", "pxap", "top1_acc", "object_coverage", "part_coverage", "invalid_cams")


def evaluate_view(
    module,
    datamodule,
    view: View,
    parts: dict[str, list[Box]] | None,
    split: str = "test",
    threshold_split: str = "val",
) -> dict[str, float]:
    """A view's map evaluated on ``split`` at its own optimum threshold on ``threshold_split``,
    under the module's protocol otherwise.

    (The module's stored threshold belongs to the method's scored map, not to this one.)
    """
    own = module.protocol.replace(loc_threshold=None)
    chosen = evaluate_part_whole(module, datamodule, threshold_split, protocol=own, view=view)
    at = own.replace(loc_threshold=chosen.get("loc_threshold"))
    return evaluate_part_whole(module, datamodule, split, parts, protocol=at, view=view)


def _parts(datamodule, split: str) -> dict[str, list[Box]] | None:
    try:
        return read_parts(datamodule.split(split).metadata_dir)
    except FileNotFoundError:
        return None


def stored_datamodule(
    checkpoint: str | Path, stored: dict, data_dir: str | Path | None = None
) -> LightningDataModule:
    """The data module of a checkpoint's stored config, prepared, its folders re-rooted.

    ``data_dir``: where the data are found; None: ``$WSOL_DATA_DIR``, else ``data`` of the
    working directory (the configs' default).
    """
    datamodule = instantiate_stored(
        stored["data"],
        str(checkpoint),
        "data",
        data_dir=data_dir or os.environ.get("WSOL_DATA_DIR") or Path.cwd() / "data",
        stored_data_dir=stored.get("data_dir"),
    )
    datamodule.prepare_data()
    return datamodule


def analyse_run(
    directory: str | Path,
    split: str = "test",
    refresh: bool = False,
    data_dir: str | Path | None = None,
) -> dict:
    """Part/whole numbers of a run's last checkpoint and of each declared extra map.

    ``data_dir`` is where the data are found (the checkpoint's folders are re-rooted under it);
    None: ``$WSOL_DATA_DIR``, else ``data`` of the working directory (the configs' default).

    Returns:
        ``{"map/<key>": ..., "<aux key>/<key>": ...}`` for the keys in :data:`KEPT` that the
        split supports (coverages as fractions in [0, 1], metrics in percent).
    """
    directory = Path(directory)
    checkpoint = directory / "checkpoints" / "last.ckpt"
    cache = directory / CACHE_FILE
    if not refresh and cache.is_file() and cache.stat().st_mtime >= checkpoint.stat().st_mtime:
        return json.loads(cache.read_text())
    module, stored = module_from_checkpoint(checkpoint)
    datamodule = stored_datamodule(checkpoint, stored, data_dir)
    parts = _parts(datamodule, split)
    results = {"map": evaluate_part_whole(module, datamodule, split, parts)}
    for key in module.method.declared_maps():
        results[key] = evaluate_view(module, datamodule, extra_map_view(key), parts, split)
    flat = {
        f"{name}/{key}": float(values[key])
        for name, values in results.items()
        for key in KEPT
        if key in values
    }
    cache.write_text(json.dumps(flat, indent=2, sort_keys=True) + "\n")
    return flat
