"""wsol.metrics."""
