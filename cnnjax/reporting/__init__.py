"""cnnjax.reporting."""
