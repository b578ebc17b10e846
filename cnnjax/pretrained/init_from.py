"""A run's initial weights from elsewhere (``config.model.init_from``).

Sources: a run's workdir (``config.json`` beside ``checkpoints/``), a checkpoint directory, or one step directory
in it (the newest intact step of a directory: :func:`~cnnjax.checkpoint.variables.checkpoint_step`); or a torch
``.pth`` / ``.pt`` / ``.safetensors`` file, read with the model's torch mapping
(:func:`~cnnjax.pretrained.convert.load_torch`) or, for a segmenter whose own model has none, with its
backbone's.

Placement (:func:`graft`): each array of the fresh state takes the source's array at the same path, or, for a
segmenter, the source classifier's at the path without the leading ``backbone/``.  An array whose shape differs
only in its last axis, where the model has ``num_classes`` (a head for another class count), stays freshly
initialised; any other shape difference, or a source that fills nothing, is an ``InvalidInputError`` naming
the arrays.  One line on stderr says how many arrays were loaded and names those left fresh and the source's
unused ones.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from flax import traverse_util

from cnnjax.checkpoint.manager import CHECKPOINTS, good_steps
from cnnjax.checkpoint.variables import checkpoint_step, restore_variables
from cnnjax.checkpoint.workdir import CONFIG_FILE
from cnnjax.errors import InvalidInputError
from cnnjax.models.segmenter import BackboneSegmenter
from cnnjax.pretrained.convert import load_torch
from cnnjax.pretrained.mapping import has_family, listed
from cnnjax.pretrained.state_dict import SAFETENSORS_SUFFIX, TORCH_SUFFIXES

BACKBONE = "backbone"
LISTED = 4  # array paths the message names before "(+N more)"


def read_source(source: str, model_name: str, overrides: Mapping, model) -> dict:
    """The variables in ``source`` (module docstring) for the registry model ``model_name`` built with
    ``overrides`` as ``model``."""
    if source.endswith((*TORCH_SUFFIXES, SAFETENSORS_SUFFIX)):
        if has_family(model_name):
            return load_torch(model_name, source, **overrides)
        if isinstance(model, BackboneSegmenter) and has_family(model.backbone):
            return load_torch(model.backbone, source, **dict(model.backbone_overrides))
        raise InvalidInputError(f"config.model.init_from: no torch mapping for {model_name} (or its backbone)")
    if not os.path.isdir(source):
        raise InvalidInputError(
            f"config.model.init_from={source!r} is neither a run's workdir, a checkpoint directory nor a "
            f"{'/'.join(TORCH_SUFFIXES)} / {SAFETENSORS_SUFFIX} file"
        )
    directory, step = source, None
    if os.path.isfile(os.path.join(source, CONFIG_FILE)):
        directory = os.path.join(source, CHECKPOINTS)
    elif os.path.basename(os.path.normpath(source)).isdigit():
        directory, step = os.path.dirname(os.path.normpath(source)), int(os.path.basename(os.path.normpath(source)))
    try:
        return restore_variables(directory, checkpoint_step(directory, step))
    except InvalidInputError as e:
        raise InvalidInputError(f"config.model.init_from: {e}") from None


def check_source(source: str, run_directories: list[str]) -> None:
    """A fresh run (no intact checkpoint in any of ``run_directories``) whose ``source`` is missing: an
    ``InvalidInputError`` naming it, raised before anything is written.  A resumed run does not read it."""
    if any(good_steps(os.path.join(d, CHECKPOINTS)) for d in run_directories):
        return
    if not os.path.exists(source):
        raise InvalidInputError(f"config.model.init_from: no such file or directory: {source}")


def graft(fresh: Mapping, source: Mapping, num_classes: int) -> tuple[dict, str]:
    """``fresh`` variables with the ``source``'s arrays placed in them (module docstring), and the line saying
    what was loaded."""
    target = traverse_util.flatten_dict(dict(fresh), sep="/")
    given = traverse_util.flatten_dict(dict(source), sep="/")
    loaded, fresh_heads, misshaped, used = {}, [], [], set()
    for path, array in target.items():
        collection, _, rest = path.partition("/")
        candidates = [path]
        if rest.startswith(f"{BACKBONE}/"):
            candidates.append(f"{collection}/{rest[len(BACKBONE) + 1 :]}")
        found = next((c for c in candidates if c in given), None)
        if found is None:
            continue
        value = given[found]
        if value.shape == array.shape:
            loaded[path] = value.astype(array.dtype)
            used.add(found)
        elif value.shape[:-1] == array.shape[:-1] and array.shape[-1] == num_classes:
            fresh_heads.append(path)
            used.add(found)
        else:
            misshaped.append(f"{path} {tuple(value.shape)} (model {tuple(array.shape)})")
    if misshaped:
        raise InvalidInputError(f"config.model.init_from: arrays of another shape: {listed(misshaped, LISTED)}")
    if not loaded:
        raise InvalidInputError(
            f"config.model.init_from: no array of the source fits the model (source paths e.g. "
            f"{listed(sorted(given), LISTED)}; model paths e.g. {listed(sorted(target), LISTED)})"
        )
    left = [p for p in target if p not in loaded]
    unused = [p for p in given if p not in used]
    line = f"loaded {len(loaded)} of {len(target)} arrays"
    line += f"; initialised fresh: {listed(left, LISTED)}" if left else ""
    line += f"; not used from the source: {listed(unused, LISTED)}" if unused else ""
    merged = {**target, **loaded}
    return traverse_util.unflatten_dict(merged, sep="/"), line


def with_initial_weights(config, model, states: list) -> list:
    """Each train state of ``states`` (a run's, or each member's of a seed group) with ``config.model.init_from``'s
    weights grafted into its params and BatchNorm statistics (:func:`graft`; the optimizer state only depends on
    the shapes, which stay); prints the line of :func:`graft` once."""
    source = config.model.init_from
    given = read_source(source, config.model.name, config.model.overrides.to_dict(), model)
    result, line = [], ""
    for state in states:
        variables, line = graft({"params": state.params, "batch_stats": state.batch_stats}, given, model.num_classes)
        result.append(state.replace(params=variables["params"], batch_stats=variables.get("batch_stats", {})))
    print(f"cnnjax: init_from {source}: {line}", file=sys.stderr)
    return result
