"""wsol.data.formats."""
