"""wsol.utils."""
