"""Sweeps: an experiment file's points × seeds, each run as an ordinary `cnnjax train` in its own workdir."""

from cnnjax.sweep.points import point_name, product, seeds, zip_points

__all__ = ["point_name", "product", "seeds", "zip_points"]
