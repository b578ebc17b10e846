"""cnnjax.train."""
