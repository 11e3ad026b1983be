"""wsol.viz."""
