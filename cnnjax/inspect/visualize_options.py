"""The options of `cnnjax visualize` and which kind takes which (an option a kind does not take is an error)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class VisualizeOptions:
    """Every option of `cnnjax visualize` (``None``: the kind's default; see `cnnjax visualize --help`)."""

    step: int | None = None
    split: str = "test"
    index: tuple[int, ...] | None = None
    count: int | None = None
    image: str | None = None
    seed: int = 0
    layer: str | None = None
    layers: tuple[str, ...] | None = None
    channels: tuple[int, ...] | None = None
    position: tuple[int, int] | None = None
    steps: int | None = None
    learning_rate: float | None = None
    l1: float | None = None
    l2: float | None = None
    tv: float | None = None
    jitter: int | None = None
    blur: float | None = None
    methods: tuple[str, ...] | None = None
    attack: str | None = None
    epsilon: float | None = None
    target: int | None = None
    octaves: int | None = None
    octave_scale: float | None = None
    style_index: int | None = None
    style_image: str | None = None
    content_layer: str | None = None
    style_layers: tuple[str, ...] | None = None
    style_weight: float | None = None
    optimizer: str | None = None


COMMON = {"step", "split", "seed"}
EXAMPLES = {"index", "count", "image"}
ASCENT = {"steps", "learning_rate"}
TAKES = {  # the options each kind takes besides COMMON
    "filters": {"layer"},
    "features": {*EXAMPLES, "layers", "channels"},
    "maximize": {*EXAMPLES, *ASCENT, "layer", "channels", "position", "l1", "l2", "tv", "jitter", "blur"},
    "saliency": {*EXAMPLES, "layer", "methods", "channels"},
    "adversarial": {*EXAMPLES, *ASCENT, "attack", "epsilon", "target"},
    "dream": {*EXAMPLES, *ASCENT, "layer", "octaves", "octave_scale", "jitter"},
    "counts": set(),  # the whole `split`
    "style": {
        *EXAMPLES,
        *ASCENT,
        "style_index",
        "style_image",
        "content_layer",
        "style_layers",
        "style_weight",
        "optimizer",
    },
}
KINDS = tuple(TAKES)
