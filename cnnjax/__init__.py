"""cnnjax: a JAX/Flax research framework for convolutional networks."""

__version__ = "0.1.0"
