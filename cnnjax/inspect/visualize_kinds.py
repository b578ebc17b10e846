"""What each kind of `cnnjax visualize` computes and draws, one function per kind.

Each checks its options against the model (layer names, channels, example indices) before anything compiles,
computes with :mod:`cnnjax.inspect`'s functions and writes one PNG grid (:mod:`~cnnjax.inspect.visualize_plots`);
it returns the line `cnnjax` prints.  Examples are the ``split``'s (``index``; default the first ``count``),
or an image file (``image``).  A kind that does not fit the run's task raises (``adversarial`` needs a
classifier).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from cnnjax.errors import InvalidInputError
from cnnjax.inspect import adversarial, counts, dream, examples, filters, maximize, saliency, style
from cnnjax.inspect.layers import LOGITS, PixelModel, check_layers, features_names
from cnnjax.inspect.objectives import Objective
from cnnjax.inspect.priors import Priors
from cnnjax.inspect.trained_run import TrainedRun
from cnnjax.inspect.visualize_options import VisualizeOptions
from cnnjax.inspect.visualize_plots import Tile, write_grid

FILTERS_PER_ROW, MAX_INPUT_ROWS, MAX_FILTERS = 8, 8, 16
LARGE_TILE_INCHES = 2.5  # dream and style: few, detailed images
MAX_FEATURE_CHANNELS, MAX_DEFAULT_TARGETS = 8, 10
DIVERGING = "RdBu_r"


def _inputs(run: TrainedRun, options: VisualizeOptions, default_count: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(pixels, labels) of the examples the options name; an image file has no label (None)."""
    if options.image is not None:
        if options.index is not None:
            raise InvalidInputError("give --index or --image, not both")
        return examples.image_file(run, options.image), None
    indices = options.index if options.index is not None else range(options.count or default_count)
    return examples.dataset_examples(run, indices, options.split)


def _picture(pixels: np.ndarray) -> np.ndarray:
    return pixels[..., 0] if pixels.shape[-1] == 1 else pixels


def _pick(value, default):
    return default if value is None else value


def _filters(run: TrainedRun, net: PixelModel, options: VisualizeOptions, out: str) -> str:
    path, kernel = filters.layer_kernel(net, run.image_shape, options.layer)
    kh, kw, inputs, outputs = kernel.shape
    tiles = filters.filter_tiles(kernel)  # (C_out, kh, kw, C_in)
    if inputs == 3:
        flat = [Tile(tile, f"{k}") for k, tile in enumerate(tiles)]
        rows = [flat[i : i + FILTERS_PER_ROW] for i in range(0, len(flat), FILTERS_PER_ROW)]
        labels = ["RGB"] + [""] * (len(rows) - 1)
    else:
        rows = [
            [Tile(tiles[k, :, :, c], f"{k}", DIVERGING, (0.0, 1.0)) for k in range(min(outputs, MAX_FILTERS))]
            for c in range(min(inputs, MAX_INPUT_ROWS))
        ]
        labels = [f"input {c}" for c in range(len(rows))]
    scale = float(np.abs(kernel).max())
    title = f"{path}: {outputs} filters {kh}x{kw} x {inputs} input channel(s) (scale ±{scale:.3g}; mid = 0)"
    write_grid(out, rows, row_labels=labels, title=title)
    return f"wrote {out}: {title}"


def _features(run: TrainedRun, net: PixelModel, options: VisualizeOptions, out: str) -> str:
    pixels, _ = _inputs(run, options, 1)
    names = options.layers or tuple(features_names(net, run.image_shape))
    shapes = check_layers(net, run.image_shape, names)
    flat = [name for name, shape in shapes.items() if len(shape.shape) != 4]
    if flat:
        raise InvalidInputError(
            f"layer {flat[0]!r} has no spatial map (shape {shapes[flat[0]].shape}): pick conv layers"
        )
    for name in names:
        Objective(name).check(shapes[name].shape, options.channels or ())
    _, acts = net.apply(pixels[:1], read=names)
    rows = []
    for name in names:
        act = np.asarray(acts[name][0])
        channels = options.channels or range(min(act.shape[-1], MAX_FEATURE_CHANNELS))
        rows.append([Tile(_picture(pixels[0]), "image")] + [Tile(act[..., c], f"ch {c}", "viridis") for c in channels])
    write_grid(out, rows, row_labels=[f"{n} {shapes[n].shape[1]}x{shapes[n].shape[2]}" for n in names])
    return f"wrote {out}: feature maps of {', '.join(names)}"


def _class_probabilities(logits: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """(N,) probability of class i for example i: per image, or the mean over pixels for a segmentation map."""
    logits = np.asarray(logits, np.float64)
    exp = np.exp(logits - logits.max(-1, keepdims=True))
    probabilities = exp / exp.sum(-1, keepdims=True)
    picked = np.take_along_axis(probabilities, classes.reshape((-1,) + (1,) * (logits.ndim - 1)), -1)[..., 0]
    return picked.reshape(len(classes), -1).mean(1)


def _maximize(run: TrainedRun, net: PixelModel, options: VisualizeOptions, out: str) -> str:
    layer = options.layer or LOGITS
    shape = check_layers(net, run.image_shape, [layer])[layer].shape
    channels = np.asarray(options.channels or range(min(shape[-1], MAX_DEFAULT_TARGETS)), np.int32)
    objective = Objective(layer, options.position, log_probability=layer == LOGITS)
    objective.check(shape, channels)
    start = None
    if options.image is not None or options.index is not None:
        pixels, _ = _inputs(run, options, 1)
        start = np.repeat(pixels[:1], len(channels), axis=0)
    priors = Priors(
        *(_pick(getattr(options, name), 0.0) for name in ("l1", "l2", "tv")),
        jitter=_pick(options.jitter, 0),
        blur=_pick(options.blur, 0.0),
    )
    ascent = maximize.Ascent(
        _pick(options.steps, maximize.Ascent.steps), _pick(options.learning_rate, maximize.Ascent.learning_rate)
    )
    result = maximize.maximize(
        net,
        channels,
        objective,
        start=start,
        image_shape=run.image_shape,
        priors=priors,
        ascent=ascent,
        seed=options.seed,
    )
    if layer == LOGITS:
        values = _class_probabilities(result.logits, channels)
        names = run.class_names
        captions = [f"{names[c]}: p={p:.3f}" for c, p in zip(channels, values, strict=True)]
        summary = f"class probabilities min {values.min():.4f}"
    else:
        captions = [f"ch {c}: {s:.3g}" for c, s in zip(channels, result.scores, strict=True)]
        summary = f"mean score {result.scores.mean():.4g}"
    stats = maximize.pixel_statistics(result.pixels)
    prior_text = ", ".join(f"{k} {v:g}" for k, v in dataclasses.asdict(priors).items() if v and k != "blur_every")
    title = (
        f"{layer}{'' if options.position is None else f' at {options.position}'}, priors: {prior_text or 'none'}; "
        f"pixels: mean {stats['mean']:.3f}, >{maximize.SPARSE_LEVEL:g}: {stats['above']:.3f}, L1 {stats['l1']:.1f}"
    )
    write_grid(out, [[Tile(_picture(p), c) for p, c in zip(result.pixels, captions, strict=True)]], title=title)
    return f"wrote {out}: {summary}; {title}"


def _saliency(run: TrainedRun, net: PixelModel, options: VisualizeOptions, out: str) -> str:
    methods = options.methods or saliency.METHODS
    unknown = [m for m in methods if m not in saliency.METHODS]
    if unknown:
        raise InvalidInputError(f"unknown saliency method {unknown[0]!r}; methods: {', '.join(saliency.METHODS)}")
    layer = options.layer or saliency.default_gradcam_layer(net, run.image_shape)
    if "gradcam" in methods:
        shape = check_layers(net, run.image_shape, [layer], gradient=True)[layer].shape
        if len(shape) != 4:
            raise InvalidInputError(f"Grad-CAM needs a layer with a spatial map; {layer!r} has shape {shape}")
    segmentation = run.task.name == "segmentation"
    pixels, labels = _inputs(run, options, 1 if segmentation else 4)
    logits = np.asarray(net.logits(pixels))
    if segmentation:
        classes = np.asarray(options.channels or range(logits.shape[-1]), np.int32)
        Objective().check(logits.shape, classes)
        images = np.repeat(pixels[:1], len(classes), axis=0)
        truth = None if labels is None else labels[0][None] == classes[:, None, None]
        row_names = [run.class_names[c] for c in classes]
    else:
        classes = np.asarray(logits.argmax(-1) if options.channels is None else options.channels, np.int32)
        if len(classes) not in (1, len(pixels)):
            raise InvalidInputError(f"--channels takes one class, or one for each of the {len(pixels)} examples")
        classes = np.broadcast_to(classes, (len(pixels),))
        Objective().check(logits.shape, classes)
        images, truth = pixels, None
        row_names = [f"{run.class_names[c]}" for c in classes]
    maps = {
        "vanilla": lambda: saliency.vanilla(net, images, classes),
        "smoothgrad": lambda: saliency.smoothgrad(net, images, classes, seed=options.seed),
        "gradcam": lambda: saliency.gradcam(net, images, classes, layer),
    }
    computed = {method: maps[method]() for method in methods}
    rows = []
    for i, image in enumerate(images):
        row = [Tile(_picture(image), "image")]
        if truth is not None:
            row.append(Tile(truth[i].astype(np.float32), f"{row_names[i]} pixels"))
        for method in methods:
            caption = method if method != "gradcam" else f"gradcam {layer}"
            if truth is not None:
                caption += f"\n{saliency.mass_inside(computed[method][i : i + 1], truth[i : i + 1])[0]:.0%} inside"
            row.append(Tile(_picture(image), caption, overlay=computed[method][i]))
        rows.append(row)
    write_grid(out, rows, row_labels=row_names, title=f"saliency of each row's class ({run.task.name})")
    return f"wrote {out}: {', '.join(methods)} for classes {', '.join(row_names)}"


def _adversarial(run: TrainedRun, net: PixelModel, options: VisualizeOptions, out: str) -> str:
    if run.task.name != "classification":
        raise InvalidInputError(f"adversarial examples are for classifiers; this run's task is {run.task.name}")
    attack = _pick(options.attack, adversarial.ATTACKS[0])
    if attack not in adversarial.ATTACKS:
        raise InvalidInputError(f"--attack must be one of {', '.join(adversarial.ATTACKS)}, got {attack!r}")
    epsilon = _pick(options.epsilon, adversarial.EPSILON)
    pixels, labels = _inputs(run, options, 6)
    num_classes = len(run.class_names)
    if labels is None:
        labels = np.asarray(net.logits(pixels)).argmax(-1)
    targets = (labels + 1) % num_classes if options.target is None else np.full(len(pixels), options.target)
    Objective().check((1, num_classes), targets)
    if attack == "pgd":
        adv = adversarial.pgd(
            net, pixels, targets, epsilon, steps=_pick(options.steps, adversarial.PGD_STEPS), seed=options.seed
        )
    else:
        adv = adversarial.fgsm(net, pixels, targets, epsilon)
    before, after = (np.asarray(net.logits(x)) for x in (pixels, adv))
    success = float((after.argmax(-1) == targets).mean())
    names = run.class_names
    rows = [[], [], []]
    for i in range(len(pixels)):
        p_true = _class_probabilities(before[i : i + 1], labels[i : i + 1])[0]
        p_adv = _class_probabilities(after[i : i + 1], after[i : i + 1].argmax(-1))[0]
        rows[0].append(Tile(_picture(pixels[i]), f"{names[labels[i]]}: p={p_true:.2f}"))
        rows[1].append(Tile((adv[i] - pixels[i]).mean(-1), "", DIVERGING, (-epsilon, epsilon)))
        answer = names[after[i].argmax()]
        rows[2].append(Tile(_picture(adv[i]), f"target {names[targets[i]]}: {answer} p={p_adv:.2f}"))
    ascent = maximize.Ascent(
        _pick(options.steps, maximize.Ascent.steps), _pick(options.learning_rate, maximize.Ascent.learning_rate)
    )
    fooled = adversarial.fooling_images(
        net, np.arange(min(num_classes, MAX_DEFAULT_TARGETS)), run.image_shape, ascent=ascent, seed=options.seed
    )
    fooled_p = _class_probabilities(fooled.logits, np.arange(len(fooled.pixels)))
    rows.append([Tile(_picture(x), f"{names[c]}: p={p:.2f}") for c, (x, p) in enumerate(zip(fooled.pixels, fooled_p))])
    title = f"{attack.upper()} targeted, L∞ ≤ {epsilon:g}: {success:.0%} answer the target; last row: from noise"
    write_grid(out, rows, row_labels=["image", "perturbation", "adversarial", "fooling"], title=title)
    return f"wrote {out}: {title}"


def _dream(run: TrainedRun, net: PixelModel, options: VisualizeOptions, out: str) -> str:
    spatial = [
        n
        for n, s in check_layers(net, run.image_shape, features_names(net, run.image_shape)).items()
        if len(s.shape) == 4
    ]
    layer = options.layer or (spatial[len(spatial) // 2] if spatial else None)
    if layer is None:
        raise InvalidInputError("the model has no spatial features entry: name a layer with --layer")
    check_layers(net, run.image_shape, [layer])
    settings = dream.Dream(
        layer,
        _pick(options.octaves, dream.Dream.octaves),
        _pick(options.octave_scale, dream.Dream.octave_scale),
        _pick(options.steps, dream.Dream.steps),
        _pick(options.learning_rate, dream.Dream.learning_rate),
        _pick(options.jitter, dream.Dream.jitter),
    )
    pixels, _ = _inputs(run, options, 1)
    dream.check_octaves(net, settings, run.image_shape)
    dreamt = dream.deep_dream(net, pixels, settings, options.seed)
    rows = [[Tile(_picture(p), "image"), Tile(_picture(d), f"dream: {layer}")] for p, d in zip(pixels, dreamt)]
    title = f"{settings.octaves} octaves x {settings.steps} steps, scale {settings.octave_scale:g}"
    write_grid(out, rows, title=title, tile_inches=LARGE_TILE_INCHES)
    return f"wrote {out}: dream of {layer}, {title}"


def _style(run: TrainedRun, net: PixelModel, options: VisualizeOptions, out: str) -> str:
    defaults = style.Style()
    settings = style.Style(
        _pick(options.content_layer, defaults.content_layer),
        _pick(options.style_layers, defaults.style_layers),
        style_weight=_pick(options.style_weight, defaults.style_weight),
        optimizer=_pick(options.optimizer, defaults.optimizer),
        steps=_pick(options.steps, defaults.steps),
        learning_rate=_pick(options.learning_rate, defaults.learning_rate),
    )
    if settings.optimizer not in style.OPTIMIZERS:
        raise InvalidInputError(f"--optimizer must be one of {', '.join(style.OPTIMIZERS)}, got {settings.optimizer!r}")
    check_layers(net, run.image_shape, [settings.content_layer, *settings.style_layers])
    content, _ = _inputs(run, options, 1)
    if options.style_image is not None:
        style_pixels = examples.image_file(run, options.style_image)
    else:
        style_pixels, _ = examples.dataset_examples(run, [_pick(options.style_index, 1)], options.split)
    result = style.transfer(net, content[:1], style_pixels, settings)
    fall = float(result.start_style[0] / max(float(result.style[0]), 1e-30))
    rows = [
        [
            Tile(_picture(content[0]), "content"),
            Tile(_picture(style_pixels[0]), "style"),
            Tile(_picture(result.pixels[0]), f"{settings.optimizer}, {settings.steps} steps"),
        ]
    ]
    title = (
        f"style loss {result.start_style[0]:.3g} -> {result.style[0]:.3g} ({fall:.0f}x lower); "
        f"content loss {result.content[0]:.3g}"
    )
    write_grid(out, rows, title=title, tile_inches=LARGE_TILE_INCHES)
    return f"wrote {out}: {title}"


def _counts(run: TrainedRun, net: PixelModel, options: VisualizeOptions, out: str) -> str:
    result = counts.split_counts(run, options.split)
    title = f"{run.config.name}, {options.split} split, step {run.step}: {len(result.true)} images"
    counts.write_count_scatter(out, result, title)
    return f"wrote {out}: count MAE {result.mae:.3f}, best constant {result.constant_mae:.3f}"


KIND_ACTIONS: dict[str, Callable[[TrainedRun, PixelModel, VisualizeOptions, str], str]] = {
    "filters": _filters,
    "features": _features,
    "maximize": _maximize,
    "saliency": _saliency,
    "adversarial": _adversarial,
    "dream": _dream,
    "style": _style,
    "counts": _counts,
}
