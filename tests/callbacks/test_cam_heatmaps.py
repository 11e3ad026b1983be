"""CAMHeatmapLogger: fixed seeded panel, its schedule, argument checks, the ACoL tiles."""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pytest
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.trainer.states import TrainerFn
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.data import DataLoader

from tests.helpers.trained_run import trained_run
from wsol.callbacks.cam_heatmaps import CAMHeatmapLogger
from wsol.callbacks.tensorboard import tensorboard_writer
from wsol.viz.panel import MIN_TILE_SIDE


def fake_trainer(size: int = 20, fn=TrainerFn.FITTING, sanity: bool = False, rank0=True):
    return SimpleNamespace(
        sanity_checking=sanity,
        state=SimpleNamespace(fn=fn),
        is_global_zero=rank0,
        val_dataloaders=DataLoader(list(range(size))),
        loggers=[],
    )


def test_panel_is_fixed_and_seeded():
    callback = CAMHeatmapLogger(count=5, seed=3)
    chosen = callback.choose_indices(list(range(100)))
    assert chosen == sorted(chosen) and len(set(chosen)) == 5
    assert chosen == CAMHeatmapLogger(count=5, seed=3).choose_indices(list(range(100)))
    assert chosen != CAMHeatmapLogger(count=5, seed=4).choose_indices(list(range(100)))
    # Only indices this process loads (its DDP share) are chosen; small splits give them all.
    assert set(callback.choose_indices(list(range(1, 100, 2)))) <= set(range(1, 100, 2))
    assert callback.choose_indices([7, 3]) == [3, 7]


def test_schedule_every_n_validation_epochs():
    callback = CAMHeatmapLogger(count=4, every_n_epochs=3)
    active = []
    for _ in range(7):
        callback.on_validation_epoch_start(fake_trainer(), None)
        active.append(callback._active)
    assert active == [True, False, False, True, False, False, True]
    panel = callback.panel_indices
    assert len(panel) == 4 and set(panel) <= set(range(20))
    limited = fake_trainer()
    limited.num_val_batches = [3]  # limit_val_batches: only 3 batches of 1 image are run
    callback = CAMHeatmapLogger(count=4)
    callback.on_validation_epoch_start(limited, None)
    assert callback.panel_indices == [0, 1, 2]
    for trainer in (
        fake_trainer(sanity=True),
        fake_trainer(fn=TrainerFn.VALIDATING),
        fake_trainer(rank0=False),
    ):
        fresh = CAMHeatmapLogger()
        fresh.on_validation_epoch_start(trainer, None)
        assert not fresh._active


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"count": 0}, "cam_heatmaps.count"),
        ({"every_n_epochs": 0}, "cam_heatmaps.every_n_epochs"),
        ({"alpha": 2.0}, "cam_heatmaps.alpha"),
        ({"colormap": "nope"}, "nope"),
    ],
)
def test_bad_arguments_name_the_key(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CAMHeatmapLogger(**kwargs)


def test_no_tensorboard_logger_warns(tmp_path):
    trainer = SimpleNamespace(loggers=[CSVLogger(tmp_path)])
    with pytest.warns(UserWarning, match="no TensorBoardLogger"):
        assert tensorboard_writer(trainer, "CAMHeatmapLogger") is None


@pytest.mark.slow
def test_acol_panel_shows_branch_and_fused_maps(tmp_path_factory):
    overrides = (
        "method=acol",
        "trainer.max_epochs=1",
        "test=false",
        "callbacks.cam_heatmaps.count=2",
    )
    run_dir = trained_run(tmp_path_factory, overrides)
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    (panel,) = events.Images("val/cam_heatmaps")
    pixels = np.asarray(Image.open(io.BytesIO(panel.encoded_image_string)))
    side = 96 * -(-MIN_TILE_SIDE // 96)
    # Per image one row: overlay, branch A, branch B, fused; two images, two rows.
    assert pixels.shape[1] == 4 * (side + 2) + 2
    tile_height = (pixels.shape[0] - 2) / 2 - 2
    assert tile_height > side and tile_height == int(tile_height)
