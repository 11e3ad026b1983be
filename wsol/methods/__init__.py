"""wsol.methods."""
