"""Native extensions for XLA:CPU, built on first use (:mod:`cnnjax.native.onednn`)."""
