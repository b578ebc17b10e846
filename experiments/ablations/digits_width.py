"""Width of the small digits CNN (`digits_simple_cnn.py`): two widths × seeds, a sweep that runs in minutes.

cnnjax sweep run --config experiments/ablations/digits_width.py --workdir runs/digits_width --seeds 3
"""

import os

from cnnjax.config import load_config
from cnnjax.sweep import product


def get_config():
    return load_config(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "digits_simple_cnn.py"))


def get_sweep():
    return product(model__overrides__widths=[(8, 16), (16, 32)])
