"""``cnnjax visualize KIND --workdir DIR --out FILE.png``'s action once its arguments are parsed.

The kind and its options are checked first (an option the kind does not take, an output that is not a PNG),
then the run is loaded (its newest good checkpoint, or ``step``) and the kind (:mod:`~cnnjax.inspect.visualize_kinds`)
checks its options against the model and writes the PNG; the command returns the line `cnnjax` prints.
"""

from __future__ import annotations

import dataclasses

from cnnjax.errors import InvalidInputError
from cnnjax.inspect.layers import PixelModel
from cnnjax.inspect.trained_run import load_run
from cnnjax.inspect.visualize_kinds import KIND_ACTIONS
from cnnjax.inspect.visualize_options import COMMON, KINDS, TAKES, VisualizeOptions

DEFAULT_OPTIONS = VisualizeOptions()


def visualize_command(kind: str, workdir: str, out: str, options: VisualizeOptions = DEFAULT_OPTIONS) -> str:
    """Writes ``out`` (PNG) for ``kind`` on the run in ``workdir``; returns a one-line report."""
    if kind not in TAKES:
        raise InvalidInputError(f"unknown kind {kind!r}; cnnjax visualize takes {', '.join(KINDS)}")
    given = {f.name for f in dataclasses.fields(options) if getattr(options, f.name) != f.default}
    extra = sorted(given - TAKES[kind] - COMMON)
    if extra:
        takes = ", ".join(f"--{name}" for name in sorted(TAKES[kind] | COMMON))
        raise InvalidInputError(f"--{extra[0]} is not an option of cnnjax visualize {kind}; it takes {takes}")
    if not out.lower().endswith(".png"):
        raise InvalidInputError(f"--out must name a .png file, got {out!r}")
    run = load_run(workdir, options.step)
    return KIND_ACTIONS[kind](run, PixelModel.of_run(run), options, out)
