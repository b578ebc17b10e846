"""Worker: a trainer-like process iterating a 2-worker train pipeline; prints its data workers' pids.

Prints 'workers PID PID' after the first batch, then one 'batch N' line per batch, until killed. A SIGINT
is noted with a 'sigint' line, and iteration goes on (as in the trainer, which decides when to stop).
argv[1] = seconds to sleep per batch.
"""

import itertools
import multiprocessing
import os
import signal
import sys
import threading
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from cnnjax.data import pipeline, preprocess  # noqa: E402


def main():
    interrupted, reported = threading.Event(), False
    signal.signal(signal.SIGINT, lambda *_: interrupted.set())
    images = np.random.default_rng(0).integers(0, 256, (64, 8, 8, 3), dtype=np.uint8)
    source = [{"image": image, "label": i} for i, image in enumerate(images)]
    batches = pipeline.train_batches(
        source,
        preprocess=preprocess.Preprocess(image_size=8, mean=(0.5,) * 3, std=(0.25,) * 3, hflip=True),
        global_batch_size=4,
        seed=0,
        share=pipeline.HostShare(num_workers=2),
    )
    for step in itertools.count():
        next(batches)
        if step == 0:
            print("workers", *(p.pid for p in multiprocessing.active_children()), flush=True)
        if interrupted.is_set() and not reported:
            print("sigint", flush=True)
            reported = True
        print("batch", step, flush=True)
        time.sleep(float(sys.argv[1]))


if __name__ == "__main__":
    main()
