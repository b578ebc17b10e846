"""cnnjax.checkpoint."""
