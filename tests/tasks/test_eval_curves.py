"""wsol-eval writes the curves as PNG files next to metrics.json, in both of its modes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import compose_config
from tests.helpers.trained_run import shared_data_dir, trained_run

pytestmark = pytest.mark.slow


def evaluate(tmp_path: Path, overrides: list[str]) -> Path:
    from wsol.tasks.evaluate import evaluate as run

    cfg = compose_config("eval", ["extras.print_config=false", *overrides], tmp_path)
    run(cfg)
    return Path(cfg.paths.output_dir)


def assert_pngs(folder: Path, split: str) -> None:
    assert (folder / "metrics.json").is_file()
    for name in ("box_accuracy", "precision_recall"):
        path = folder / f"{split}_{name}.png"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path


def test_checkpoint_mode_writes_curves(tmp_path_factory, tmp_path):
    checkpoint = trained_run(tmp_path_factory) / "checkpoints" / "last.ckpt"
    assert_pngs(evaluate(tmp_path, [f"ckpt_path={checkpoint}"]), "test")


def test_cams_dir_mode_writes_curves(tmp_path_factory, tmp_path):
    trained_run(tmp_path_factory)  # generates the shared synthetic data
    (dataset,) = (shared_data_dir(tmp_path_factory) / "synthetic").glob("synthetic-*")
    metadata = dataset / "metadata" / "test"
    cams = tmp_path / "cams"
    rng = np.random.default_rng(0)
    for image_id in (metadata / "image_ids.txt").read_text().split():
        path = cams / f"{image_id}.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, rng.random((96, 96)))
    folder = evaluate(
        tmp_path,
        [
            f"cams_dir={cams}",
            f"metadata_dir={metadata}",
            f"mask_root={dataset / 'masks'}",
            "frame_size=96",
        ],
    )
    assert_pngs(folder, "test")
