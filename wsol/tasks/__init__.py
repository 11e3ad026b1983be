"""wsol.tasks."""
