"""wsol.models."""
