"""Every field an experiment can set, with its default. Experiments start from `base_config()`.

Code reads `config.x` directly; configs are locked, so a misspelt key is an error, not a silent default.
"""

import json

import ml_collections
from ml_collections.config_dict import placeholder

from cnnjax.config.loading import ConfigError
from cnnjax.data import workers
from cnnjax.data.rand_augment import NUM_MAGNITUDE_BINS
from cnnjax.data.rand_augment import POLICIES as AUTO_AUGMENT_POLICIES
from cnnjax.data.segmentation_augment import IGNORE_INDEX
from cnnjax.tasks.keypoint_metrics import LOSSES as HEATMAP_LOSSES

OPTIMIZERS = ("sgd", "adamw", "rmsprop")
SCHEDULES = ("constant", "piecewise", "cosine", "exponential")
WARMUP_MODES = ("linear", "constant")
NORMALIZATIONS = ("per_channel", "per_pixel_mean")
TRAIN_CROPS = ("pad_crop", "random_resized")
PAD_MODES = ("zeros", "reflect")
DTYPES = ("auto", "float32", "bfloat16", "float16")
AUTO_DTYPES = {"cpu": "float32"}  # model.dtype='auto' on these platforms; bfloat16 on every other
NONFINITE_POLICIES = ("stop", "skip")  # cnnjax.train.divergence


def base_config() -> ml_collections.ConfigDict:
    """The full config schema with defaults (unlocked, so an experiment can fill `model.overrides`)."""
    c = ml_collections.ConfigDict()
    c.name = "experiment"
    c.seed = 0  # parameter initialisation and dropout
    c.data_seed = placeholder(int)  # data order and augmentation; None: `seed` (`data_seed(config)`)
    c.task = "classification"  # or 'multilabel': multi-hot labels, sigmoids, mAP (datasets in catalog.MULTILABEL);
    # or 'segmentation': per-pixel labels, mIoU; or 'counting': density maps, count MAE
    # (segmentation models, datasets in cnnjax.data.catalog.DENSITY); or 'keypoints': a heat map per keypoint, PCK
    # (segmentation models, datasets in cnnjax.data.catalog.KEYPOINTS); must match the model and dataset
    # (cnnjax.tasks.make_task checks it)

    c.dataset = ml_collections.ConfigDict()
    c.dataset.name = "digits"
    c.dataset.data_dir = placeholder(str)  # None: $CNNJAX_DATA_DIR, $TFDS_DATA_DIR or ~/tensorflow_datasets
    c.dataset.image_size = 32  # images are resized to this square size in the pipeline
    c.dataset.train_split = "train"
    c.dataset.eval_split = "validation"  # periodic evaluation
    c.dataset.test_split = "test"  # evaluated once, at the end
    c.dataset.normalization = "per_channel"  # (x - mean) / std per channel, or minus the train split's mean image
    c.dataset.train_crop = "pad_crop"  # 'pad_crop': resize, then pad_crop; 'random_resized': Inception crop
    c.dataset.pad_crop = 0  # random pad-and-crop by this many pixels (train only)
    c.dataset.pad_mode = "zeros"  # pad_crop fills with 'zeros' or 'reflect'ions of the image
    c.dataset.hflip = False  # random horizontal flips (train only)
    c.dataset.eval_resize = 0  # 0: resize to image_size; n: shorter side to n, then centre crop image_size
    # Host input pipeline: worker processes x threads per process building batches (0 x 0: in the trainer's
    # thread). -1 chooses from the usable cores (cnnjax.data.workers): one process per core with one thread
    # each, or no process and one thread on a single core. Batches are the same for any value; they may
    # change on resume.
    c.dataset.num_workers = -1
    c.dataset.num_threads = -1
    c.dataset.scale_range = (0.5, 2.0)  # dense tasks, train: random rescale, crop image_size (hflip too)
    # Classification, train: RandAugment / TrivialAugment-Wide on the host's uint8 image after its resize / crop and
    # before the device's pad-crop and flip (cnnjax.data.rand_augment; ops and magnitudes as torchvision's).
    c.dataset.auto_augment = "none"  # 'none', 'randaugment' or 'trivialaugment'
    c.dataset.auto_augment_num_ops = 2  # randaugment: ops per image (N)
    c.dataset.auto_augment_magnitude = 9  # randaugment: magnitude bin M of 31 (0-30)
    # Classification, train: mixup / CutMix of each global batch with itself reversed (cnnjax.train.mixup, timm's
    # Mixup in 'batch' mode); the loss takes the mixed, label-smoothed (loss.label_smoothing) soft targets.
    c.dataset.mixup_alpha = 0.0  # > 0: mixup with λ ~ Beta(alpha, alpha)
    c.dataset.cutmix_alpha = 0.0  # > 0: CutMix with λ ~ Beta(alpha, alpha)
    c.dataset.mix_prob = 1.0  # probability that a batch is mixed at all
    c.dataset.mix_switch_prob = 0.5  # with both alphas: probability of CutMix rather than mixup

    c.model = ml_collections.ConfigDict()
    c.model.name = "lenet5"
    c.model.dtype = "float32"  # compute dtype; params and BatchNorm statistics stay float32; 'auto': compute_dtype()
    c.model.overrides = ml_collections.ConfigDict()  # constructor keyword arguments (width, stage_sizes, ...)
    # Initial weights (cnnjax.pretrained.init_from): a run's workdir, a cnnjax checkpoint directory, or a torch
    # .pth / .pt / .safetensors file (torchvision / timm names, for this model or a segmenter's backbone); arrays
    # whose class axis differs are initialised fresh. None: random initialisation.
    c.model.init_from = placeholder(str)
    # Rematerialise each residual / inverted-residual / dense block (nn.remat): its activations are recomputed in the
    # backward pass instead of kept, for deep models and large batches; same loss and gradients.
    c.model.remat = False

    c.train = ml_collections.ConfigDict()
    c.train.batch_size = 128  # global: split over all devices of all processes
    c.train.eval_batch_size = 256
    c.train.num_steps = 1000
    c.train.log_every_steps = 50
    c.train.eval_every_steps = 250  # 0: evaluate only at the end
    c.train.checkpoint_every_steps = 500  # 0: checkpoint only at the end
    c.train.keep_checkpoints = 3
    c.train.nonfinite = "stop"  # a non-finite loss / gradient / update: 'stop' the run, or 'skip' the step
    c.train.eval_panels = 8  # dense tasks: examples in the image / truth / prediction PNG of each eval
    # K >= 1: seeds seed..seed+K-1 trained as one vmapped program, seed s written to <workdir>/seed<s>/ exactly
    # as a standalone run of seed s (cnnjax.train.members); data_seed held fixed: one data stream for all,
    # None: each its own. 0: one run in <workdir>.
    c.train.vmap_seeds = 0
    # Shell patterns of '/'-joined parameter paths (e.g. 'stem_conv/*', 'stage1_*', 'backbone/*') kept as they are:
    # no updates, no gradients, and their BatchNorm layers normalise with their fixed running statistics
    # (cnnjax.train.frozen). Every pattern must match some parameter.
    c.train.frozen = ()
    # k > 1: each device's share of the batch runs as k equal micro-batches in one jitted step (lax.scan), their
    # gradients averaged into one update: the step count, schedule, checkpoints and logs keep their meaning.
    # BatchNorm statistics update once per micro-batch, in turn, each normalising with its own micro-batch's
    # statistics (as PyTorch's accumulation loops do); the loss is the mean of the micro-batches' losses.
    c.train.accumulation_steps = 1
    # > 0: an exponential moving average of the weights (params and BatchNorm statistics), updated after every step,
    # checkpointed, and evaluated beside the raw weights (rows '<split>_ema', summary 'test_ema_*'; cnnjax.train.ema).
    c.train.ema_decay = 0.0
    c.train.ema_warmup_power = 0.0  # > 0: decay min(ema_decay, 1 - u^-power) at update u >= 2 (timm; 2/3 or 3/4)

    c.optimizer = ml_collections.ConfigDict()
    c.optimizer.name = "sgd"
    c.optimizer.learning_rate = 0.1
    c.optimizer.momentum = 0.9  # sgd, rmsprop (0: none)
    c.optimizer.nesterov = False  # sgd
    c.optimizer.b1 = 0.9  # adamw
    c.optimizer.b2 = 0.999  # adamw
    c.optimizer.eps = 1e-8  # adamw; rmsprop (inside the square root, as TensorFlow)
    c.optimizer.decay = 0.9  # rmsprop: decay of the squared-gradient average
    c.optimizer.initial_scale = 0.0  # rmsprop: start of the squared-gradient average (TensorFlow 1: 1.0)
    c.optimizer.weight_decay = 1e-4  # sgd, rmsprop: L2 added to the gradient (PyTorch style); adamw: decoupled
    c.optimizer.decay_biases_and_norms = False  # False: biases and norm scales/offsets get no weight decay
    # > 0: the gradient is scaled down to this global L2 norm when above it, before weight decay and the update
    # (PyTorch's clip_grad_norm_ before optimizer.step()); the logged grad_norm is the norm before clipping.
    c.optimizer.clip_norm = 0.0
    # Layer-wise learning-rate decay (cnnjax.train.layer_decay): the layer k steps before the last (top-level
    # modules in call order; a segmenter's backbone counts its own) learns at layer_decay**k × the rate. 1: none.
    c.optimizer.layer_decay = 1.0

    c.schedule = ml_collections.ConfigDict()
    c.schedule.name = "constant"
    c.schedule.warmup_steps = 0  # warm-up steps, starting at warmup_factor × the learning rate
    c.schedule.warmup_mode = "linear"  # 'linear': ramp to the learning rate; 'constant': hold, then jump
    c.schedule.warmup_factor = 0.0
    c.schedule.boundaries = ()  # piecewise: steps at which the rate is multiplied by decay_factor
    c.schedule.decay_factor = 0.1  # piecewise; exponential
    c.schedule.decay_every_steps = 0  # exponential: × decay_factor every this many steps after warm-up (staircase)
    c.schedule.final_fraction = 0.0  # cosine: final rate as a fraction of the peak

    c.loss = ml_collections.ConfigDict()
    c.loss.label_smoothing = 0.0  # classification
    c.loss.aux_weight = 0.0  # classification: × each auxiliary head's loss (GoogLeNet aux_logits=True; paper 0.3)
    c.loss.ignore_index = IGNORE_INDEX  # segmentation: pixels with this label count nowhere (crop padding uses it)
    c.loss.class_weights = ()  # segmentation: per-class cross-entropy weights; () for none
    c.loss.dice_weight = 0.0  # segmentation: loss = cross-entropy + dice_weight × soft Dice
    c.loss.density_scale = 100.0  # counting: the model predicts the density × this (pixel MSE on the scaled map)
    c.loss.count_weight = 0.0  # counting: + count_weight × (predicted count - true count)² per image
    c.loss.heatmap_sigma = 2.0  # keypoints: std in pixels of each keypoint's Gaussian target
    c.loss.heatmap_loss = "softmax"  # keypoints: 'softmax' cross-entropy over pixels, or 'mse' (peak 1 targets)

    c.parallel = ml_collections.ConfigDict()
    c.parallel.num_devices = 0  # 0: every device; n: the first n (single process only)
    c.parallel.sync_batch_stats = True  # False: per-device statistics, averaged before eval and checkpoints
    c.parallel.bn_group_size = 0  # 0: follow sync_batch_stats; n: BatchNorm statistics over groups of n images
    # (within a device, or across devices: any device count), running statistics the groups' mean (GroupedBatchNorm)
    c.parallel.coordinator_address = placeholder(str)  # 'host:port' to join a multi-process run
    c.parallel.num_processes = 1
    c.parallel.process_id = 0
    c.parallel.auto_initialize = "auto"  # 'auto': join a detected SLURM / TPU multi-process job; 'on'; 'off'
    # (cnnjax.parallel.distributed checks it)

    c.runtime = ml_collections.ConfigDict()
    c.runtime.tune_cpu = True  # CPU runs: XLA:CPU compile options + malloc page reuse (cnnjax.cpu_runtime)
    return c


def with_defaults(stored: dict) -> dict:
    """``stored`` (a config as a run wrote it, JSON types) with each schema key it lacks at its default.  Keys join
    the schema with defaults that keep the behaviour runs had before them, so a run written before a key existed
    reads, resumes and compares as if it had set the default."""

    def fill(defaults, given):
        if not (isinstance(defaults, dict) and isinstance(given, dict)):
            return given
        return {**given, **{k: fill(v, given[k]) if k in given else v for k, v in defaults.items()}}

    return fill(json.loads(json.dumps(base_config().to_dict())), stored)


def validate_config(config: ml_collections.ConfigDict) -> None:
    """Checks values that a type alone cannot, before anything is built or compiled."""
    choices = {
        "optimizer.name": (config.optimizer.name, OPTIMIZERS),
        "schedule.name": (config.schedule.name, SCHEDULES),
        "schedule.warmup_mode": (config.schedule.warmup_mode, WARMUP_MODES),
        "dataset.normalization": (config.dataset.normalization, NORMALIZATIONS),
        "dataset.train_crop": (config.dataset.train_crop, TRAIN_CROPS),
        "dataset.pad_mode": (config.dataset.pad_mode, PAD_MODES),
        "model.dtype": (config.model.dtype, DTYPES),
        "train.nonfinite": (config.train.nonfinite, NONFINITE_POLICIES),
        "dataset.auto_augment": (config.dataset.auto_augment, AUTO_AUGMENT_POLICIES),
        "loss.heatmap_loss": (config.loss.heatmap_loss, HEATMAP_LOSSES),
    }
    for key, (value, allowed) in choices.items():
        if value not in allowed:
            raise ConfigError(f"config.{key} is {value!r}; choose one of {', '.join(allowed)}")
    positive = {
        "train.batch_size": config.train.batch_size,
        "train.eval_batch_size": config.train.eval_batch_size,
        "train.num_steps": config.train.num_steps,
        "train.log_every_steps": config.train.log_every_steps,
        "train.keep_checkpoints": config.train.keep_checkpoints,
        "dataset.image_size": config.dataset.image_size,
        "parallel.num_processes": config.parallel.num_processes,
    }
    for key, value in positive.items():
        if value < 1:
            raise ConfigError(f"config.{key} must be at least 1, got {value}")
    if data_seed(config) < 0 or config.seed < 0:
        raise ConfigError(f"config.seed and config.data_seed must be >= 0, got {config.seed} and {config.data_seed}")
    if config.train.accumulation_steps < 1:
        raise ConfigError(f"config.train.accumulation_steps must be at least 1, got {config.train.accumulation_steps}")
    if config.train.vmap_seeds < 0:
        raise ConfigError(f"config.train.vmap_seeds must be >= 0 (0: no vmapped seeds), got {config.train.vmap_seeds}")
    if config.parallel.bn_group_size < 0:
        raise ConfigError(f"config.parallel.bn_group_size must be >= 0, got {config.parallel.bn_group_size}")
    if list(config.schedule.boundaries) != sorted(config.schedule.boundaries):
        raise ConfigError(f"config.schedule.boundaries must be increasing, got {config.schedule.boundaries}")
    if config.optimizer.clip_norm < 0:
        raise ConfigError(f"config.optimizer.clip_norm must be >= 0 (0: no clipping), got {config.optimizer.clip_norm}")
    if not 0 < config.optimizer.layer_decay <= 1:
        raise ConfigError(f"config.optimizer.layer_decay must be in (0, 1], got {config.optimizer.layer_decay}")
    if not 0 <= config.train.ema_decay < 1 or config.train.ema_warmup_power < 0:
        raise ConfigError(
            "config.train.ema_decay must be in [0, 1) (0: no EMA) and ema_warmup_power >= 0, got "
            f"{config.train.ema_decay} and {config.train.ema_warmup_power}"
        )
    d = config.dataset
    if d.mixup_alpha < 0 or d.cutmix_alpha < 0 or not (0 <= d.mix_prob <= 1 and 0 <= d.mix_switch_prob <= 1):
        raise ConfigError(
            "config.dataset.mixup_alpha and cutmix_alpha must be >= 0, mix_prob and mix_switch_prob in [0, 1]; got "
            f"{d.mixup_alpha}, {d.cutmix_alpha}, {d.mix_prob}, {d.mix_switch_prob}"
        )
    if (d.mixup_alpha or d.cutmix_alpha or d.auto_augment != "none") and config.task != "classification":
        raise ConfigError(
            f"config.dataset mixup / cutmix / auto_augment are for classification; this run's task is {config.task!r}"
        )
    if d.auto_augment_num_ops < 1 or not 0 <= d.auto_augment_magnitude < NUM_MAGNITUDE_BINS:
        raise ConfigError(
            "config.dataset.auto_augment_num_ops must be >= 1 and auto_augment_magnitude in "
            f"0..{NUM_MAGNITUDE_BINS - 1}, "
            f"got {d.auto_augment_num_ops} and {d.auto_augment_magnitude}"
        )
    if config.loss.aux_weight < 0:
        raise ConfigError(f"config.loss.aux_weight must be >= 0, got {config.loss.aux_weight}")
    if config.loss.count_weight < 0:
        raise ConfigError(f"config.loss.count_weight must be >= 0, got {config.loss.count_weight}")
    if config.loss.heatmap_sigma <= 0:
        raise ConfigError(f"config.loss.heatmap_sigma must be positive, got {config.loss.heatmap_sigma}")
    if config.loss.density_scale <= 0:
        raise ConfigError(f"config.loss.density_scale must be positive, got {config.loss.density_scale}")
    low, high = config.dataset.scale_range
    if not 0 < low <= high:
        raise ConfigError(f"config.dataset.scale_range must be (low, high) with 0 < low <= high, got {(low, high)}")
    if config.schedule.name == "exponential" and config.schedule.decay_every_steps < 1:
        raise ConfigError("config.schedule.decay_every_steps must be at least 1 for the exponential schedule")
    workers.resolve(config.dataset.num_workers, config.dataset.num_threads)  # raises on values below -1
    eval_resize, size = config.dataset.eval_resize, config.dataset.image_size
    if eval_resize and eval_resize < size:
        raise ConfigError(f"config.dataset.eval_resize ({eval_resize}) must be 0 or at least image_size ({size})")
    if config.dataset.normalization == "per_pixel_mean" and (config.dataset.train_crop != "pad_crop" or eval_resize):
        raise ConfigError(
            "config.dataset.normalization='per_pixel_mean' needs whole images resized to image_size "
            "(train_crop='pad_crop', eval_resize=0)"
        )


def data_seed(config: ml_collections.ConfigDict) -> int:
    """The seed of the data stream (order and augmentation): `data_seed`, or `seed` where it is None, so a study
    can vary the initialisation over a fixed data stream or the data over a fixed initialisation."""
    return config.seed if config.data_seed is None else config.data_seed


def compute_dtype(model_dtype: str, platform: str) -> str:
    """The compute dtype of ``config.model.dtype`` on devices of ``platform`` (``jax.Device.platform``):
    ``'auto'`` is float32 on CPUs (:data:`AUTO_DTYPES`) and bfloat16 on GPUs and TPUs; any other value is itself."""
    return AUTO_DTYPES.get(platform, "bfloat16") if model_dtype == "auto" else model_dtype


def epochs_to_steps(epochs: float, num_examples: int, batch_size: int) -> int:
    """Steps that pass `epochs` times over `num_examples` (the stream runs on across epochs, no partial batches)."""
    return round(epochs * num_examples / batch_size)
