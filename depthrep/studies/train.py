"""Models trained here, offline, in minutes on a CPU: one per world, and the world judge.

No ImageNet can be downloaded here, so the trained half of the paper uses ResNets trained
from scratch on worlds generated from a seed (:mod:`depthrep.studies.worlds`): crops of
photographs that ship inside installed packages, labelled by the photo they come from
(two photos, :data:`HELD_OUT`, are kept out, so the notebooks invert images no model saw);
the paper's control, Gaussian noise (``randn / 4 + 0.5``) with random labels; and
procedural worlds (gratings, dead leaves). The judge (:data:`JUDGE_MODEL`) is trained the
same way, on which world a sample comes from.

Checkpoints go to the cache (:func:`depthrep.zoo.checkpoints.cache_dir`) under a name derived
from every training setting, so a rerun with the same settings reuses them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from filelock import FileLock

from depthrep._util.precision import TRAINING, autocast, check_precision, choose_precision, describe_hardware
from depthrep._util.progress import bar as progress_bar
from depthrep.errors import CheckpointError, TrainError
from depthrep.profiles import DEFAULT as DEFAULT_PROFILE
from depthrep.profiles import PROFILES, Profile
from depthrep.studies import worlds
from depthrep.studies.worlds import HEAD, TRAIN_PHOTOS, UNTRAINED, WORLDS, get_world
from depthrep.zoo.checkpoints import cache_dir, load_checkpoint, save_checkpoint
from depthrep.zoo.models import default_device, load_model, parse_fc_name

JUDGE_MODEL = "shufflenet_v2_x0_5"
"""The world judge's architecture: small, and unlike the ResNets it judges."""
JUDGE_SEED = 1000
"""The judge's training seed: none of the world models' seeds."""
JUDGE_DATA = "worlds"
"""``TrainConfig.data`` of the judge: samples of every world, labelled by world, augmented."""
BATCH = 64
"""Images per optimiser step, unless a config says otherwise (the judge's in every profile)."""
LR = 0.1
"""Learning rate for :data:`BATCH` images per step (:func:`scaled_lr` for other batches)."""


def scaled_lr(batch: int) -> float:
    """The learning rate for ``batch`` images per step: :data:`LR` in proportion to the batch
    (the linear scaling rule of Goyal et al., 2017).

    Measured at ``ci`` (ResNet18, 300 steps, 32 px, 2026-12-07): with batches of 32 at this rate
    (0.05) the world models learn as with 64 at 0.1 (gratings 52 and 62 % validation against 54
    and 61 %, photos 40 % against 45 and 37 %, noise memorised); at 0.1 the gratings models stayed
    at chance (20-33 %) and one noise model memorised 28 % of its images.
    """
    if batch < 1:
        raise ValueError(f"batch must be a positive number of images, not {batch}")
    return LR * batch / BATCH


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run; the checkpoint's file name is derived from all of them."""

    model: str = "resnet18"
    data: str = "photos"
    """A world of :data:`depthrep.studies.worlds.WORLDS` (``"photos"``, crops of the shipped
    photographs; ``"noise"``, the paper's control; ``"gratings"``, ``"leaves"``) or
    :data:`JUDGE_DATA` (the judge's task: which world a sample is from)."""
    size: int = PROFILES[DEFAULT_PROFILE].world_size
    """Side of the training images (by default the default profile's, so that ``depthrep train
    resnet18`` trains the model its chapters use: the photo world's)."""
    steps: int = PROFILES[DEFAULT_PROFILE].world_steps
    batch: int = BATCH
    lr: float = LR
    weight_decay: float = 5e-4
    seed: int = 0
    noise_images: int = 256
    """Number of fixed noise images for ``data="noise"``."""
    precision: str = TRAINING
    """``"float32"``, ``"bfloat16"`` (autocast; the loss and weights stay float32) or
    ``"auto"``: bfloat16 where the device runs it natively (:mod:`depthrep._util.precision`).
    :meth:`resolved` turns ``"auto"`` into the precision a device uses; the checkpoint's
    name is derived from that, so a bfloat16 model is never read as a float32 one."""

    def __post_init__(self):
        if self.data != JUDGE_DATA:
            get_world(self.data)
        check_precision(self.precision)

    @property
    def pixels_seen(self) -> int:
        """Pixels the run trains on (steps x batch x size^2): what its time grows with, for
        one architecture; :func:`depthrep.book.run.train_first` starts the largest runs first."""
        return self.steps * self.batch * self.size**2

    def resolved(self, device=None) -> TrainConfig:
        """This config with :attr:`precision` decided for ``device`` (default:
        :func:`depthrep.zoo.models.default_device`)."""
        device = torch.device(device) if device is not None else default_device()
        return dataclasses.replace(self, precision=choose_precision(device, self.precision))

    @property
    def labels(self) -> int:
        """Classes of the task: the world's (:attr:`depthrep.studies.worlds.World.classes`), or one
        per world for the judge."""
        return len(WORLDS) if self.data == JUDGE_DATA else WORLDS[self.data].classes

    @property
    def classes(self) -> int:
        """Outputs of the model's head: :data:`depthrep.studies.worlds.HEAD` for every world, so one
        seed gives one initialisation whatever the world (the untrained twin of every world
        model); the judge's is one per world."""
        return len(WORLDS) if self.data == JUDGE_DATA else HEAD

    def key(self) -> str:
        """A short hash of every setting."""
        if self.precision == "auto":
            raise ValueError("precision 'auto' names no checkpoint: call TrainConfig.resolved(device) first")
        text = json.dumps(dataclasses.asdict(self), sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:10]

    def path(self) -> Path:
        """Where this run's checkpoint lives in the cache."""
        return cache_dir() / (
            f"{self.model}-{self.data}-{self.steps}steps-seed{self.seed}-{self.precision}-{self.key()}.pt"
        )


@dataclass(frozen=True)
class Trained:
    """A trained checkpoint and what it reached."""

    path: Path
    config: TrainConfig
    train_accuracy: float
    validation_accuracy: float
    """On fresh samples (the photos' held-out bands; chance: 1 / labels); for noise, on fresh
    noise, where memorised labels cannot generalise."""
    seconds: float

    @property
    def learned(self) -> bool:
        """Whether the model learned its task: above twice chance on fresh samples (on its
        training images for noise, which can only be memorised)."""
        accuracy = self.train_accuracy if self.config.data == "noise" else self.validation_accuracy
        return accuracy > 2 / self.config.labels

    def describe(self) -> str:
        c = self.config
        what = {
            "photos": f"{len(TRAIN_PHOTOS)} photos",
            "noise": f"{c.noise_images} noise images",
            JUDGE_DATA: "every world (which one)",
        }.get(c.data, c.data)
        return (
            f"{c.model} trained here on {what} ({c.steps} steps of {c.batch}, {c.size} px, seed {c.seed}, "
            f"{c.precision}): "
            f"train accuracy {self.train_accuracy:.0%}, validation {self.validation_accuracy:.0%} "
            f"(chance {1 / c.labels:.0%}), {self.seconds:.0f} s; checkpoint {self.path.name}"
        )


def noise_images(config: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The noise world's fixed training set (:func:`depthrep.studies.worlds.noise`), from the seed:
    ``config.noise_images`` images and their random labels."""
    return worlds.noise(config.noise_images, config.size, torch.Generator().manual_seed(10_000 + config.seed))


def batches(
    config: TrainConfig, generator: torch.Generator
) -> Callable[[], tuple[torch.Tensor, torch.Tensor]]:
    """Draws one training batch ``(config.batch, 3, size, size)`` and its labels per call:
    fresh samples of the world (a fixed set for noise, which is memorised), or for the
    judge fresh samples of every world, augmented (:func:`depthrep.studies.worlds.augment`)."""
    if config.data == "noise":
        images, labels = noise_images(config)
        return lambda: _pick(images, labels, config.batch, generator)
    if config.data == JUDGE_DATA:

        def judge_batch():
            images, labels = worlds.mixture(config.batch, config.size, generator)
            return worlds.augment(images, generator), labels

        return judge_batch
    world = WORLDS[config.data]
    return lambda: world.draw(config.batch, config.size, generator, "train")


def train(config: TrainConfig, *, device=None, progress: bool | None = None) -> Trained:
    """Train ``config.model`` from scratch and save it atomically to ``config.path()``.

    SGD with Nesterov momentum, linear warm-up over the first 5 % of steps then cosine decay,
    in ``config.precision`` (resolved for ``device`` first). Seeded: the same config on the
    same device, at the same thread count, gives the same weights.
    """
    device = torch.device(device) if device is not None else default_device()
    config = config.resolved(device)
    g = torch.Generator().manual_seed(config.seed)
    if parse_fc_name(config.model) is not None:
        raise TrainError(
            f"{config.model} is one of the paper's fully connected nets, which are inverted untrained: "
            "depthrep trains torchvision classifiers here (e.g. resnet18)."
        )
    model = load_model(config.model, seed=config.seed, device=device, num_classes=config.classes)
    _check_trainable(model, config, device)
    # Channels-last (NHWC) convolutions: measured on a 2-core AVX2 CPU at one thread, a training
    # step of ResNet18 at 64 px took 0.90 s against 0.99 s, ShuffleNet v2 x0.5 at 32 px 0.067 s
    # against 0.075-0.091 s; the checkpoint is saved in the usual layout.
    model.to(memory_format=torch.channels_last).train().requires_grad_(True)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=config.lr, momentum=0.9, nesterov=True, weight_decay=config.weight_decay
    )
    warmup = max(1, config.steps // 20)

    def lr_at(step: int) -> float:
        if step < warmup:
            return config.lr * (step + 1) / warmup
        return 0.5 * config.lr * (1 + math.cos(math.pi * (step - warmup) / max(1, config.steps - warmup)))

    draw = batches(config, g)
    start = time.perf_counter()
    bar = progress_bar(progress, iterable=range(config.steps), desc=f"train {config.model} on {config.data}")
    correct = seen = 0
    for step in bar:
        x, y = draw()
        x, y = x.to(device, memory_format=torch.channels_last), y.to(device)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step)
        with autocast(device, config.precision):
            logits = model(x)
        loss = F.cross_entropy(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step >= config.steps * 3 // 4:  # training accuracy over the last quarter
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
        bar.set_postfix(loss=f"{loss.item():.3f}")
    seconds = time.perf_counter() - start
    model.to(memory_format=torch.contiguous_format).eval()
    validation = _validation_accuracy(model, config, device)
    train_accuracy = correct / max(seen, 1)
    if config.data == "noise":
        train_accuracy = _accuracy(model, *noise_images(config), device)
    meta = {
        "config": dataclasses.asdict(config),
        "classes": config.classes,
        "train_accuracy": train_accuracy,
        "validation_accuracy": validation,
        "seconds": seconds,
        "torch": str(torch.__version__),
        "precision": config.precision,
        "device": str(device),
        "hardware": describe_hardware(device),
    }
    save_checkpoint(config.path(), model.state_dict(), meta)
    return Trained(config.path(), config, train_accuracy, validation, seconds)


def _check_trainable(model: torch.nn.Module, config: TrainConfig, device) -> None:
    """Refuse, before any data is drawn, a model that cannot classify ``config.size`` px images."""
    try:
        with torch.no_grad():
            logits = model(torch.zeros(2, 3, config.size, config.size, device=device))
    except (RuntimeError, ValueError, AssertionError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise TrainError(
            f"{config.model} cannot take the {config.size} px training images ({first}): "
            "train a model that accepts small inputs, such as resnet18."
        ) from err
    if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (2, config.classes):
        raise TrainError(f"{config.model} does not return one row of class scores per image.")


def ensure_trained(config: TrainConfig, *, device=None, progress: bool | None = None) -> Trained:
    """The cached checkpoint for ``config``, trained first if it is missing or unreadable.

    Training happens under a lock file beside the checkpoint, so processes that need the same
    model at once (two notebooks run side by side) train it once: the others wait, then read
    it. Reading a checkpoint that is there takes no lock (a read-only cache works).
    ``config.precision="auto"`` is resolved for ``device`` first.
    """
    config = config.resolved(device)
    path = config.path()
    found = _cached(path, config, quiet=True)
    if found:
        return found
    try:
        lock = FileLock(path.with_name(f".{path.name}.lock"))
        lock.acquire()
    except OSError as err:
        raise CheckpointError(
            f"{config.model} on {config.data} is not in the cache {path.parent}, and the cache cannot be "
            f"written to train it ({err.strerror or err}): set DEPTHREP_CACHE to a folder you can write."
        ) from None
    try:
        return _cached(path, config) or train(config, device=device, progress=progress)
    finally:
        lock.release()


def _cached(path: Path, config: TrainConfig, *, quiet: bool = False) -> Trained | None:
    """The checkpoint at ``path`` if it is there and readable; else ``None`` (with a warning
    unless ``quiet``, when it is there but unusable)."""
    if not path.exists():
        return None
    try:
        _, meta = load_checkpoint(path)
        return Trained(path, config, meta["train_accuracy"], meta["validation_accuracy"], meta["seconds"])
    except (CheckpointError, KeyError) as err:
        if not quiet:
            warnings.warn(f"Retraining: the cached checkpoint is unusable ({err}).", stacklevel=3)
        return None


def trained_model(trained: Trained, *, device=None) -> torch.nn.Module:
    """Load a :class:`Trained` checkpoint as a frozen eval-mode model."""
    return load_model(trained.config.model, trained.path, device=device, num_classes=trained.config.classes)


def _pick(images, labels, count, g):
    index = torch.randint(len(images), (count,), generator=g)
    return images[index], labels[index]


def _accuracy(model, images, labels, device) -> float:
    with torch.no_grad():
        predictions = torch.cat([model(chunk.to(device)).argmax(1).cpu() for chunk in images.split(128)])
    return float((predictions == labels).float().mean())


def _validation_accuracy(model, config: TrainConfig, device) -> float:
    """Accuracy on fresh samples (photos: the held-out bands; noise: fresh noise, where
    memorised labels cannot generalise, so this is chance)."""
    g = torch.Generator().manual_seed(123_456)
    count = 32 * config.labels
    if config.data == JUDGE_DATA:
        images, labels = worlds.mixture(count, config.size, g, "validation")
    else:
        images, labels = WORLDS[config.data].draw(count, config.size, g, "validation")
    return _accuracy(model, images, labels, device)


@dataclass(frozen=True)
class Weights:
    """A model with trained weights, and a sentence saying where the weights came from."""

    label: str
    model: torch.nn.Module
    description: str
    learned: bool = True
    """False for a model trained here that did not learn its task (:attr:`Trained.learned`)."""


def trained_models(
    profile: Profile, weights: str | None = None, *, data: str = "photos", device=None
) -> list[Weights]:
    """The trained models a notebook compares with untrained ones, per the profile.

    ``weights="local"`` trains (or reuses from the cache) ``data``'s world models, one per
    ``profile.world_seeds`` at ``world_size`` (the photo world's by default: the same runs the
    training-data chapter uses, so nothing is trained twice); ``"imagenet"`` loads torchvision's
    weights for ``profile.trained_model`` and fails with instructions when they cannot be had:
    there is no silent fallback.
    """
    weights = weights or profile.weights
    if weights == "imagenet" and data == "photos":
        model = load_model(profile.trained_model, "imagenet", device=device)
        return [
            Weights(
                "ImageNet", model, f"{profile.trained_model}: torchvision's ImageNet weights (IMAGENET1K_V1)"
            )
        ]
    if weights not in ("local", "imagenet"):
        raise ValueError(f"weights must be 'local' or 'imagenet', not {weights!r}")
    return [_weights(config, device) for config in world_trainings(profile) if config.data == data]


def _weights(config: TrainConfig, device) -> Weights:
    """The cached (or newly trained) model of ``config``, labelled ``"<data>, seed <seed>"``."""
    trained = ensure_trained(config, device=device)
    label = f"{config.data}, seed {config.seed}"
    return Weights(label, trained_model(trained, device=device), trained.describe(), trained.learned)


def profile_trainings(profile: Profile) -> list[TrainConfig]:
    """The local training runs of a profile: every world model (:func:`world_trainings`; the
    photo world's are also :func:`trained_models`' local models) and the judge
    (:func:`judge_training`). ``python -m depthrep book`` trains them side by side, before the
    notebooks that use them and beside the others."""
    return [*world_trainings(profile), judge_training(profile)]


def world_trainings(profile: Profile) -> list[TrainConfig]:
    """One run per world and ``world_seeds``: the same architecture, size and budget, the
    learning rate scaled to the profile's batch (:func:`scaled_lr`)."""
    return [
        TrainConfig(
            model=profile.trained_model,
            data=world,
            size=profile.world_size,
            steps=profile.world_steps,
            batch=profile.world_batch,
            lr=scaled_lr(profile.world_batch),
            seed=seed,
        )
        for world in WORLDS
        for seed in profile.world_seeds
    ]


def judge_training(profile: Profile) -> TrainConfig:
    """The world judge's run: :data:`JUDGE_MODEL` on :data:`JUDGE_DATA` at ``world_size``."""
    return TrainConfig(
        JUDGE_MODEL, JUDGE_DATA, size=profile.world_size, steps=profile.judge_steps, seed=JUDGE_SEED
    )


def world_models(profile: Profile, *, device=None) -> dict[str, list[Weights]]:
    """``{"untrained": [...], world: [...]}``: one model per ``profile.world_seeds`` for every
    world of :data:`depthrep.studies.worlds.WORLDS`, trained (or reused from the cache) at
    ``world_size``; the untrained ones are the same seeds' initialisations."""
    out = {UNTRAINED: [
        Weights(f"untrained, seed {s}", load_model(profile.trained_model, seed=s, device=device,
                                                   num_classes=HEAD),
                f"{profile.trained_model}, untrained (seed {s})")
        for s in profile.world_seeds
    ]}  # fmt: skip
    for config in world_trainings(profile):
        out.setdefault(config.data, []).append(_weights(config, device))
    return out


def world_judge(profile: Profile, *, device=None) -> Weights:
    """The world judge of a profile (:data:`JUDGE_MODEL`, trained on :data:`JUDGE_DATA`)."""
    trained = ensure_trained(judge_training(profile), device=device)
    return Weights("judge", trained_model(trained, device=device), trained.describe(), trained.learned)


def is_trained(config: TrainConfig, *, device=None) -> bool:
    """Whether a readable checkpoint for ``config`` (resolved for ``device``) is in the cache."""
    config = config.resolved(device)
    return _cached(config.path(), config, quiet=True) is not None
