"""Input pipeline speed: cnnjax's Grain pipelines vs PyTorch's DataLoader on ImageNet-like JPEGs.

    python benchmarks/input_pipeline.py [--quick] [--images 512] [--rounds 3] [--workers 0,1,N]

Writes `--images` synthetic photos (500x375 JPEG, quality 90, ~105 KB: a smooth colour field, shapes and
film-grain noise) as a TFDS array_record dataset with imagenet2012's features (image: encoded JPEG bytes,
label, file_name), prepared without TensorFlow. Then, for each worker count, runs in turn:
- cnnjax train: `train_batches` with imagenet's recipe (Inception crop 224, hflip; the host sends uint8,
  normalisation is `on_device`), and eval: `eval_batches` (resize 256, centre crop 224);
- torch: `DataLoader(shuffle=True)` with torchvision's v2 reference transforms (decode with PIL,
  RandomResizedCrop(224, antialias) + RandomHorizontalFlip + PILToTensor + ToDtype(float32, scale) +
  Normalize; eval: Resize(256) + CenterCrop(224) + the same tail), batch `--batch`; torch ops on one
  thread (`torch.set_num_threads(1)`, as DataLoader sets in its workers; its default OpenMP threads in
  the main process collapse under load).
cnnjax runs with `num_threads=1` per worker process, and with 0 workers both serially (0 threads) and
with one thread per core. Each measurement runs in a fresh process, columns alternate, each round runs
every column once; the table shows the median img/s over rounds, counted after a warm-up of
2 * max(workers, 1) batches (worker start-up excluded, shown separately), and the median over rounds
of the ratio within a round (robust to load that changes between rounds on a shared machine). Eval passes read the split
repeated to `--eval-images`. Per-stage costs are the median per image over the dataset, in one thread.
Without torch (or with --no-torch) the torch column says so.
"""

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image, ImageDraw, ImageFilter

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from cnnjax.data import augment, image_io, workers  # noqa: E402
from cnnjax.data.catalog import STATS  # noqa: E402
from cnnjax.data.pipeline import HostShare, eval_batches, train_batches  # noqa: E402
from cnnjax.data.preprocess import Preprocess  # noqa: E402

MEAN, STD = STATS["imagenet2012"]
SIZE, EVAL_RESIZE = 224, 256
WIDTH, HEIGHT, QUALITY, GRAIN = 500, 375, 90, 33.0  # GRAIN: noise sigma giving ~105 KB JPEGs


def synthetic_photo(index: int) -> bytes:
    """A deterministic photo-like JPEG: smooth colour field, blurred shapes, film grain at two scales."""
    rng = np.random.default_rng(index)
    image = Image.fromarray(rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)).resize((WIDTH, HEIGHT), Image.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(10):
        x0, y0 = int(rng.integers(0, WIDTH)), int(rng.integers(0, HEIGHT))
        box = (x0, y0, x0 + int(rng.integers(20, 200)), y0 + int(rng.integers(20, 200)))
        fill = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=fill)
    image = image.filter(ImageFilter.GaussianBlur(1.5))
    coarse = rng.normal(0, GRAIN, (HEIGHT // 2, WIDTH // 2)).astype(np.float32)
    coarse = np.asarray(Image.fromarray(coarse).resize((WIDTH, HEIGHT), Image.BILINEAR))[..., None]
    fine = rng.normal(0, GRAIN / 2, (HEIGHT, WIDTH, 3))
    pixels = np.clip(np.asarray(image, np.float32) + coarse * [1.0, 0.9, 0.8] + fine, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=QUALITY)
    return buffer.getvalue()


class ImagenetLikeJpegs(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """imagenet2012's features with synthetic photos; the image is stored as its encoded JPEG bytes."""

    name = "imagenet_like_jpegs"
    VERSION = tfds.core.Version("1.0.0")

    def __init__(self, *, num_images: int = 0, **kwargs):  # 0: reading only (how a data source unpickles)
        self.num_images = num_images
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Tensor(shape=(), dtype=np.object_),  # encoded bytes, no TF needed
                    "label": tfds.features.ClassLabel(num_classes=1000),
                    "file_name": tfds.features.Text(),
                }
            ),
        )

    def _split_generators(self, dl_manager):
        del dl_manager
        return {"train": self._generate_examples()}

    def _generate_examples(self):
        for i in range(self.num_images):
            yield i, {"image": synthetic_photo(i), "label": i % 1000, "file_name": f"synthetic_{i:05d}.JPEG"}


def open_source(data_dir: str, num_images: int):
    builder = ImagenetLikeJpegs(num_images=num_images, data_dir=data_dir, file_format="array_record")
    builder.download_and_prepare()
    return builder.as_data_source(split="train")


class Repeated:
    """A random-access source read `times` over (for eval passes long enough to time)."""

    def __init__(self, source, times: int):
        self.source, self.times = source, times

    def __len__(self):
        return len(self.source) * self.times

    def __getitem__(self, index):
        return self.source[index % len(self.source)]


# ---- One measurement, in a fresh process (`--measure`). ----------------------------------------------------


def time_batches(batches, warmup: int, count: int, batch: int) -> dict:
    """img/s over `count` batches after `warmup` batches; seconds to the first batch."""
    start = time.perf_counter()
    next(batches)
    first = time.perf_counter() - start
    for _ in range(warmup - 1):
        next(batches)
    start = time.perf_counter()
    for _ in range(count):
        next(batches)
    return {"img_s": count * batch / (time.perf_counter() - start), "first_s": first}


def measure_cnnjax(source, mode: str, num_workers: int, num_threads: int, args) -> dict:
    preprocess = Preprocess(
        image_size=SIZE, mean=MEAN, std=STD, hflip=True, train_crop="random_resized", eval_resize=EVAL_RESIZE
    )
    warmup = 2 * max(num_workers, 1)
    parallel = {"share": HostShare(num_workers=num_workers, num_threads=num_threads)}
    if mode == "train":
        batches = train_batches(source, preprocess=preprocess, global_batch_size=args.batch, seed=0, **parallel)
        # The pipeline holds up to 2 batches per thread / worker built ahead: time many more than that.
        count = max(args.train_batches, 8 * max(num_workers, num_threads, 1))
    else:
        repeated = Repeated(source, -(-args.eval_images // len(source)))
        batches = iter(eval_batches(repeated, preprocess=preprocess, global_batch_size=args.batch, **parallel))
        count = len(repeated) // args.batch - warmup
    result = time_batches(batches, warmup, count, args.batch)
    batches.close()
    return result


def measure_torch(source, mode: str, num_workers: int, args) -> dict:
    import torch
    from torch.utils.data import DataLoader, Dataset

    from cnnjax.pretrained.torch_modules import torchvision

    torchvision()  # importable beside the CPU torch
    from torchvision.transforms import v2

    torch.set_num_threads(1)  # one thread per image pipeline, as in DataLoader's workers (and cnnjax's)
    tail = [v2.PILToTensor(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(MEAN, STD), v2.ToPureTensor()]
    if mode == "train":
        head = [v2.RandomResizedCrop(SIZE, antialias=True), v2.RandomHorizontalFlip()]
    else:
        head = [v2.Resize(EVAL_RESIZE, antialias=True), v2.CenterCrop(SIZE)]
    transform = v2.Compose(head + tail)

    class Images(Dataset):
        def __init__(self, examples):
            self.examples = examples

        def __len__(self):
            return len(self.examples)

        def __getitem__(self, index):
            example = self.examples[index]
            image = Image.open(io.BytesIO(example["image"])).convert("RGB")
            return transform(image), example["label"]

    warmup = 2 * max(num_workers, 1)
    if mode == "train":
        examples, count = source, max(args.train_batches, 8 * max(num_workers, 1))  # as cnnjax's column
    else:
        examples = Repeated(source, -(-args.eval_images // len(source)))
        count = len(examples) // args.batch - warmup

    def forever():
        loader = DataLoader(
            Images(examples),
            batch_size=args.batch,
            shuffle=mode == "train",
            drop_last=True,
            num_workers=num_workers,
            persistent_workers=num_workers > 0,
        )
        while True:
            yield from loader

    return time_batches(forever(), warmup, count, args.batch)


def measure(args) -> None:
    framework, mode, num_workers, num_threads = args.measure.split(":")
    source = open_source(args.data_dir, args.images)
    if framework == "cnnjax":
        result = measure_cnnjax(source, mode, int(num_workers), int(num_threads), args)
    else:
        result = measure_torch(source, mode, int(num_workers), args)
    print(json.dumps(result))


# ---- Per-stage costs (one thread, this process). --------------------------------------------------------------


def stage_costs(source, count: int) -> dict[str, float]:
    """Median ms per image of each host stage of the train recipe, and bytes per image to the device."""
    costs = {name: [] for name in ("decode", "draft_decode_crop_resize", "crop_resize", "flip", "normalise_host")}

    def timed(name, fn, *args):
        start = time.perf_counter()
        out = fn(*args)
        costs[name].append(1e3 * (time.perf_counter() - start))
        return out

    def decode(data):
        return image_io.to_array(image_io.open_image(data), 3)

    def draft_decode_crop_resize(data, window):
        return image_io.resized_crop(image_io.open_image(data), window, (SIZE, SIZE), 3)

    def crop_resize(opened, window):
        return image_io.resized_crop(opened, window, (SIZE, SIZE), 3)

    def flip(crop):
        return np.ascontiguousarray(crop[:, ::-1])

    def normalise_host(crop):
        return (crop.astype(np.float32) / 255 - np.float32(MEAN)) / np.float32(STD)

    for index in range(count):
        data = source[index]["image"]
        window = augment.random_resized_window(HEIGHT, WIDTH, np.random.default_rng(index))
        decoded = timed("decode", decode, data)
        timed("draft_decode_crop_resize", draft_decode_crop_resize, data, window)
        crop = timed("crop_resize", crop_resize, image_io.open_image(decoded), window)
        timed("flip", flip, crop)
        timed("normalise_host", normalise_host, crop)
    out = {name: statistics.median(values) for name, values in costs.items()}
    out["bytes_uint8"], out["bytes_float32"] = SIZE * SIZE * 3, SIZE * SIZE * 3 * 4
    out["jpeg_kb"] = statistics.mean(len(source[i]["image"]) for i in range(count)) / 1e3
    return out


# ---- The driver. -------------------------------------------------------------------------------------------


def columns(worker_counts: list[int], with_torch: bool) -> list[tuple[str, int, int]]:
    """(framework, workers, threads): for each worker count, cnnjax then torch; cnnjax at 0 workers also
    with one thread per core."""
    out = []
    for count in worker_counts:
        out.append(("cnnjax", count, 0 if count == 0 else 1))
        if count == 0:
            out.append(("cnnjax", 0, workers.available_cores()))
        if with_torch:
            out.append(("torch", count, 0))
    return out


def run_one(args, framework: str, mode: str, num_workers: int, num_threads: int) -> dict:
    if args.quick:  # in this process: a smoke run
        source = open_source(args.data_dir, args.images)
        if framework == "cnnjax":
            return measure_cnnjax(source, mode, num_workers, num_threads, args)
        return measure_torch(source, mode, num_workers, args)
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--measure",
        f"{framework}:{mode}:{num_workers}:{num_threads}",
        "--data-dir",
        args.data_dir,
        "--images",
        str(args.images),
        "--batch",
        str(args.batch),
        "--train-batches",
        str(args.train_batches),
        "--eval-images",
        str(args.eval_images),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if done.returncode:
        raise RuntimeError(f"{framework} {mode} {num_workers} workers failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
        import torchvision  # noqa: F401
    except ImportError:
        return False
    except RuntimeError:  # torchvision's C++ ops missing: the measurement process registers their schemas
        return True
    return True


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="16 images, batch 8, 0 workers, in this process")
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", default=f"0,1,{workers.available_cores()}", help="comma-separated counts")
    parser.add_argument("--train-batches", type=int, default=8, help="timed train batches per measurement (at least 8 per thread or worker)")
    parser.add_argument("--eval-images", type=int, default=2048, help="eval passes read the split repeated")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--data-dir", help="where the synthetic dataset is prepared (default: a temporary dir)")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    tfds.display_progress_bar(False)
    if args.quick:
        args.images, args.batch, args.rounds, args.workers, args.train_batches, args.eval_images = 16, 8, 1, "0", 2, 32
    if args.measure:
        return measure(args)
    needed = (2 * max(int(c) for c in args.workers.split(",")) + 1) * args.batch  # warm-up batches + one timed
    if args.eval_images < needed:
        parser.error(f"--eval-images {args.eval_images} leaves no timed eval batch with --workers {args.workers}: "
                     f"use at least {needed}")
    with tempfile.TemporaryDirectory() as scratch:
        args.data_dir = args.data_dir or scratch
        source = open_source(args.data_dir, args.images)
        with_torch = not args.no_torch and torch_available()
        counts = sorted({int(c) for c in args.workers.split(",")})
        results: dict[tuple, list[dict]] = {}
        for _ in range(args.rounds):
            for column in columns(counts, with_torch):
                for mode in ("train", "eval"):
                    result = run_one(args, column[0], mode, *column[1:])
                    results.setdefault((*column, mode), []).append(result)
                    print(
                        f"{column[0]} {mode} {column[1]} workers {column[2]} threads: {result['img_s']:.0f} img/s, "
                        f"first batch {result['first_s']:.1f} s",
                        file=sys.stderr,
                        flush=True,
                    )
        report(results, counts, with_torch, stage_costs(source, min(len(source), 64)), args)


def report(results, counts, with_torch, stages, args) -> None:
    def median(key, field="img_s"):
        return statistics.median(r[field] for r in results[key]) if key in results else float("nan")

    note = "" if with_torch else " (torch: not installed or --no-torch)"
    print(
        f"{args.images} JPEGs {WIDTH}x{HEIGHT} (~{stages['jpeg_kb']:.0f} KB), batch {args.batch}, "
        f"{args.rounds} round(s), median img/s{note}"
    )
    print(
        "| workers | cnnjax threads | train cnnjax | train torch | ratio | eval cnnjax | eval torch | ratio "
        "| cnnjax first batch s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for _, count, threads in columns(counts, False):
        row = [str(count), str(threads)]
        for mode in ("train", "eval"):
            ours, theirs = ("cnnjax", count, threads, mode), ("torch", count, 0, mode)
            row += [f"{median(ours):.0f}", f"{median(theirs):.0f}" if with_torch else "-"]
            if with_torch:  # paired within each round, where the machine's load was alike
                ratios = [a["img_s"] / b["img_s"] for a, b in zip(results[ours], results[theirs])]
                row.append(f"{statistics.median(ratios):.2f}x")
            else:
                row.append("-")
        row.append(f"{median(('cnnjax', count, threads, 'train'), 'first_s'):.1f}")
        print("| " + " | ".join(row) + " |")
    print(
        "per image, one thread: "
        + ", ".join(
            f"{name} {stages[name]:.2f} ms"
            for name in ("decode", "draft_decode_crop_resize", "crop_resize", "flip", "normalise_host")
        )
        + f"; host->device {stages['bytes_uint8']} B uint8 (float32 would be {stages['bytes_float32']} B)"
    )


if __name__ == "__main__":
    main()
