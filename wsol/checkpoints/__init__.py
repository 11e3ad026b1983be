"""Checkpoints: loading them (``weights_only=True``) and the trust rules of their stored config
(the schema of what a checkpoint may build, and the checked instantiation of it)."""
