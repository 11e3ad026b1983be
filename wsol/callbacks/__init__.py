"""wsol.callbacks."""
