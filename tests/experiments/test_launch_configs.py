"""Multi-node options compose consistently: the SLURM launcher starts one task per device."""

from __future__ import annotations

import pytest

pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="optional extra [slurm]")


def test_slurm_launcher_matches_the_multinode_trainer(make_config):
    cfg = make_config(
        "train", ["hydra/launcher=slurm_multinode", "trainer=ddp_multinode", "trainer.devices=8"]
    )
    launcher, trainer = cfg.hydra.launcher, cfg.trainer
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.nodes, launcher.tasks_per_node) == (trainer.num_nodes, trainer.devices)
    assert launcher.gpus_per_node == 8 and trainer.num_nodes == 2
    assert trainer.strategy == "ddp" and trainer.sync_batchnorm is True
    # Evaluation never pads: the data module builds its own samplers.
    assert trainer.use_distributed_sampler is False
