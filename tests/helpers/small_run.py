"""Overrides for training runs that take seconds: a small synthetic set, two epochs."""

# Small enough for seconds per epoch, large enough that every metric is defined.
SMALL_RUN = [
    "data.preparer.train_size=96",
    "data.preparer.val_size=16",
    "data.preparer.test_size=24",
    "data.preparer.probes=[]",
    "data.batch_size=32",
    "extras.print_config=false",
    "trainer.enable_progress_bar=false",
    "callbacks.progress_bar=null",
    "trainer.max_epochs=2",
]
