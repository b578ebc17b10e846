"""cnnjax.layers."""
