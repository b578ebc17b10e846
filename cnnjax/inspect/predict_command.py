"""``cnnjax predict --workdir DIR IMAGE... [--out DIR] [--top_k K] [--class_maps] [--step N]``: what the run's
model says about each image (:mod:`cnnjax.inspect.predict`).

One JSON object per image is printed (a line each) and all of them are written to ``OUT/predictions.json``:

- classification: ``{"image", "size": [H, W], "top_k": [{"class", "name", "probability"}, ...]}``; with
  ``--class_maps`` (a classifier with a dense head) also ``OUT/<stem>_class_maps.png``, the probability of each
  class at every position of the image at its own size, and ``"class_maps_size": [H', W']``;
- multi-label: ``{"labels": [{"class", "name", "probability", "present"}, ...]}`` for every class, ``present``
  when the probability reaches the class's threshold chosen on the validation split (the run's summary
  ``test_thresholds``; 0.5 before the run has finished);
- segmentation: ``OUT/<stem>_mask.png``, the class index of every pixel (8-bit, the image's H x W),
  ``OUT/<stem>_heatmaps.png`` (the image, the mask in class colours, one probability map per class) and
  ``"class_fractions"`` (each class's share of the pixels);
- counting: ``{"count"}`` and ``OUT/<stem>_density.png``;
- keypoints: ``{"keypoints": {name: [row, col]}}`` (pixels of the image at its own size, pixel (r, c) covering
  [r, r+1) x [c, c+1)) and ``OUT/<stem>_keypoints.png`` (the points over the image, the heat maps).

``OUT`` defaults to ``DIR/predictions``.  Every image is read before anything is written or compiled, so a
missing or unreadable file fails at once, naming it.
"""

from __future__ import annotations

import json
import os

import jax
import numpy as np
import scipy.special
from PIL import Image

from cnnjax.errors import InvalidInputError
from cnnjax.inspect import predict, predict_plots
from cnnjax.inspect.trained_run import load_run, run_config
from cnnjax.reporting.keypoint_panels import write_keypoint_panels
from cnnjax.reporting.summary import read_summary

PREDICTIONS_FILE = "predictions.json"
UNTUNED_THRESHOLD = 0.5  # a multi-label class's decision threshold before the validation split has chosen one


def predict_command(
    workdir: str,
    images: list[str],
    *,
    out: str | None = None,
    top_k: int = 5,
    class_maps: bool = False,
    step: int | None = None,
) -> list[dict]:
    """Predicts every image of ``images`` with the run in ``workdir`` (module docstring); returns the records."""
    config = run_config(workdir)
    for path in images:
        if not os.path.isfile(path):
            raise InvalidInputError(f"no image file {path}")
    if class_maps and config.task != "classification":
        raise InvalidInputError(f"--class_maps is for classification runs; this run's task is {config.task}")
    run = load_run(workdir, step)
    pixels = [predict.read_image(path, run.image_shape[-1]) for path in images]
    if class_maps:
        small = [
            (p, x.shape)
            for p, x in zip(images, pixels, strict=True)
            if x.shape[0] < run.image_shape[0] or x.shape[1] < run.image_shape[1]
        ]
        if small:
            (path, (height, width, _)), (train_height, train_width) = small[0], run.image_shape[:2]
            raise InvalidInputError(
                f"--class_maps needs images of at least the training size {train_height}x{train_width}; "
                f"{path} is {height}x{width}"
            )
    out = out or os.path.join(workdir, "predictions")
    os.makedirs(out, exist_ok=True)
    records = []
    for path, image in zip(images, pixels, strict=True):
        stem = os.path.join(out, os.path.splitext(os.path.basename(path))[0])
        record = {"image": path, "size": list(image.shape[:2])}
        record.update(_TASKS[run.task.name](run, image, stem, top_k=top_k, class_maps=class_maps))
        print(json.dumps(record), flush=True)
        records.append(record)
    with open(os.path.join(out, PREDICTIONS_FILE), "w") as file:
        json.dump(records, file, indent=1)
    return records


def _classification(run, image, stem, *, top_k, class_maps) -> dict:
    result = predict.classify(run, image, top_k)
    record = {"top_k": [{"class": c, "name": n, "probability": p} for c, n, p in result.top_k]}
    if class_maps:
        maps = predict.class_maps(run, image)
        predict_plots.write_heatmaps(
            f"{stem}_class_maps.png", image, maps, run.class_names, title=os.path.basename(stem)
        )
        record["class_maps_size"] = list(maps.shape[:2])
    return record


def multilabel(run, image, stem, **_) -> dict:
    """Each class's probability for one image and whether it is present (module docstring)."""
    probabilities = np.asarray(jax.nn.sigmoid(predict.image_logits(run, image)))
    summary = read_summary(run.workdir) or {}
    thresholds = summary.get("test_thresholds", [UNTUNED_THRESHOLD] * len(probabilities))
    labels = zip(run.class_names, probabilities, thresholds, strict=True)
    return {
        "labels": [
            {"class": c, "name": name, "probability": float(p), "present": bool(p >= threshold)}
            for c, (name, p, threshold) in enumerate(labels)
        ]
    }


def _segmentation(run, image, stem, **_) -> dict:
    probabilities = scipy.special.softmax(predict.dense_output(run, image), axis=-1)
    mask = probabilities.argmax(-1).astype(np.uint8)
    Image.fromarray(mask, mode="L").save(f"{stem}_mask.png")
    predict_plots.write_heatmaps(
        f"{stem}_heatmaps.png", image, probabilities, run.class_names, mask=mask, title=os.path.basename(stem)
    )
    fractions = np.bincount(mask.ravel(), minlength=len(run.class_names)) / mask.size
    return {"class_fractions": {name: float(f) for name, f in zip(run.class_names, fractions, strict=True)}}


def counting(run, image, stem: str, **_) -> dict:
    """The count of one image and ``<stem>_density.png``."""
    density = np.asarray(run.task.density(predict.dense_output(run, image)[None]))[0]
    count = float(density.sum())
    predict_plots.write_density(f"{stem}_density.png", image, density, count, title=os.path.basename(stem))
    return {"count": count}


def keypoints(run, image, stem: str, **_) -> dict:
    """Each keypoint's (row, col) in one image and ``<stem>_keypoints.png``."""
    logits = predict.dense_output(run, image)[None]
    points = np.asarray(run.task.predict(logits))
    write_keypoint_panels(
        f"{stem}_keypoints.png",
        images=image[None] / np.float32(255),
        labels=points,
        visible=np.zeros(points.shape[:2]),  # no truth to draw
        predictions=points,
        heatmaps=np.asarray(run.task.heatmaps(logits)),
        names=run.class_names,
        title=os.path.basename(stem),
    )
    return {"keypoints": {name: [float(r), float(c)] for name, (r, c) in zip(run.class_names, points[0], strict=True)}}


_TASKS = {
    "classification": _classification,
    "multilabel": multilabel,
    "segmentation": _segmentation,
    "counting": counting,
    "keypoints": keypoints,
}
