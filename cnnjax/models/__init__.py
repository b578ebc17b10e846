"""cnnjax.models."""
