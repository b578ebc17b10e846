"""cnnjax.parallel."""
