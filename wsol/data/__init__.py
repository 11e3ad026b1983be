"""wsol.data."""
