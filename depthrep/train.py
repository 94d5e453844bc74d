"""Models trained here, offline, in minutes on a CPU: the natural-image model and its controls.

No ImageNet can be downloaded here, so the trained half of the paper uses a ResNet trained
from scratch on random crops of photographs that ship inside installed packages, labelled
by the photo they come from. Two photos are kept out of training entirely
(:data:`HELD_OUT`), so the notebooks invert images the model never saw. The paper's
control, a model trained on Gaussian noise (``randn / 4 + 0.5``) with random labels, is
trained the same way.

Checkpoints go to the cache (:func:`depthrep.checkpoints.cache_dir`) under a name derived
from every training setting, so a rerun with the same settings reuses them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from filelock import FileLock
from torchvision.transforms.v2 import functional as TF
from tqdm.auto import tqdm

from .checkpoints import CheckpointError, cache_dir, load_checkpoint, save_checkpoint
from .images import load_image
from .models import default_device, load_model
from .precision import TRAINING, autocast, check_precision, choose_precision, describe_hardware
from .profiles import Profile

# Photographs the model is trained on: one class each (scikit-image samples, all in the wheel).
TRAIN_PHOTOS = (
    "astronaut", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina",
    "camera", "brick", "grass", "gravel",
)  # fmt: skip
# Never seen in training: the notebooks' targets.
HELD_OUT = ("grace_hopper", "chelsea")
VALIDATION_BAND = 0.25
"""Fraction of each photo's height (the bottom band) used only for validation crops."""


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run; the checkpoint's file name is derived from all of them."""

    model: str = "resnet18"
    data: str = "photos"
    """``"photos"`` (crops of :data:`TRAIN_PHOTOS`) or ``"noise"`` (the paper's control)."""
    size: int = 64
    """Side of the training images."""
    steps: int = 400
    batch: int = 64
    lr: float = 0.1
    weight_decay: float = 5e-4
    seed: int = 0
    noise_images: int = 256
    """Number of fixed noise images for ``data="noise"``."""
    precision: str = TRAINING
    """``"float32"``, ``"bfloat16"`` (autocast; the loss and weights stay float32) or
    ``"auto"``: bfloat16 where the device runs it natively (:mod:`depthrep.precision`).
    :meth:`resolved` turns ``"auto"`` into the precision a device uses; the checkpoint's
    name is derived from that, so a bfloat16 model is never read as a float32 one."""

    def __post_init__(self):
        if self.data not in ("photos", "noise"):
            raise ValueError(f"data must be 'photos' or 'noise', not {self.data!r}")
        check_precision(self.precision)

    def resolved(self, device=None) -> TrainConfig:
        """This config with :attr:`precision` decided for ``device`` (default:
        :func:`depthrep.models.default_device`)."""
        device = torch.device(device) if device is not None else default_device()
        return dataclasses.replace(self, precision=choose_precision(device, self.precision))

    @property
    def classes(self) -> int:
        return len(TRAIN_PHOTOS)

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
    """On crops from the photos' held-out bands (chance: 1 / classes); for noise, on fresh noise."""
    seconds: float

    def describe(self) -> str:
        c = self.config
        what = f"{len(TRAIN_PHOTOS)} photos" if c.data == "photos" else f"{c.noise_images} noise images"
        return (
            f"{c.model} trained here on {what} ({c.steps} steps of {c.batch}, {c.size} px, seed {c.seed}, "
            f"{c.precision}): "
            f"train accuracy {self.train_accuracy:.0%}, validation {self.validation_accuracy:.0%} "
            f"(chance {1 / c.classes:.0%}), {self.seconds:.0f} s; {self.path}"
        )


class PhotoCrops:
    """Random crops of the training photos, labelled by photo, with flips and colour jitter."""

    def __init__(self, size: int):
        self.size = size
        self.photos = []
        for name in TRAIN_PHOTOS:
            image = load_image(name)[0]
            short = min(image.shape[-2:])
            self.photos.append(TF.resize(image, [3 * size], antialias=True) if short > 3 * size else image)

    def batch(
        self, count: int, generator: torch.Generator, split: str = "train"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(count, 3, size, size)`` crops and their ``(count,)`` labels."""
        labels = torch.randint(len(self.photos), (count,), generator=generator)
        crops = [self._crop(self.photos[int(k)], generator, split) for k in labels]
        return torch.stack(crops), labels

    def _crop(self, photo: torch.Tensor, g: torch.Generator, split: str) -> torch.Tensor:
        height, width = photo.shape[-2:]
        band = int(height * (1 - VALIDATION_BAND))
        top, bottom = (0, band) if split == "train" else (band, height)
        side_max = min(bottom - top, width)
        uniform = lambda lo, hi: lo + (hi - lo) * float(torch.rand((), generator=g))  # noqa: E731
        side = max(8, int(side_max * math.sqrt(uniform(0.1, 0.6))))
        i = top + int(uniform(0, bottom - top - side + 1))
        j = int(uniform(0, width - side + 1))
        crop = TF.resized_crop(photo, i, j, side, side, [self.size, self.size], antialias=True)
        if split == "train":
            if uniform(0, 1) < 0.5:
                crop = crop.flip(-1)
            crop = TF.adjust_brightness(crop, uniform(0.7, 1.3))
            crop = TF.adjust_contrast(crop, uniform(0.7, 1.3))
            crop = TF.adjust_saturation(crop, uniform(0.7, 1.3))
        return crop.clamp(0, 1)


def noise_images(config: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's control data: ``randn / 4 + 0.5`` images with random labels, fixed by the seed."""
    g = torch.Generator().manual_seed(10_000 + config.seed)
    images = torch.randn((config.noise_images, 3, config.size, config.size), generator=g) / 4 + 0.5
    return images, torch.randint(config.classes, (config.noise_images,), generator=g)


def train(config: TrainConfig, *, device=None, progress: bool | None = None) -> Trained:
    """Train ``config.model`` from scratch and save it atomically to ``config.path()``.

    SGD with Nesterov momentum, linear warm-up over the first 5 % of steps then cosine decay,
    in ``config.precision`` (resolved for ``device`` first). Seeded: the same config on the
    same device, at the same thread count, gives the same weights.
    """
    device = torch.device(device) if device is not None else default_device()
    config = config.resolved(device)
    g = torch.Generator().manual_seed(config.seed)
    model = load_model(config.model, seed=config.seed, device=device, num_classes=config.classes)
    model.train().requires_grad_(True)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=config.lr, momentum=0.9, nesterov=True, weight_decay=config.weight_decay
    )
    warmup = max(1, config.steps // 20)

    def lr_at(step: int) -> float:
        if step < warmup:
            return config.lr * (step + 1) / warmup
        return 0.5 * config.lr * (1 + math.cos(math.pi * (step - warmup) / max(1, config.steps - warmup)))

    if config.data == "photos":
        crops = PhotoCrops(config.size)
        draw = lambda: crops.batch(config.batch, g)  # noqa: E731
    else:
        images, labels = noise_images(config)
        draw = lambda: _pick(images, labels, config.batch, g)  # noqa: E731
    start = time.perf_counter()
    show = progress if progress is not None else None
    bar = tqdm(range(config.steps), desc=f"train {config.model} on {config.data}", disable=_disabled(show))
    correct = seen = 0
    for step in bar:
        x, y = draw()
        x, y = x.to(device), y.to(device)
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
    model.eval()
    validation = _validation_accuracy(model, config, device)
    train_accuracy = correct / max(seen, 1)
    if config.data == "noise":
        train_accuracy = _accuracy(model, images, labels, device)
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
    with FileLock(path.with_name(f".{path.name}.lock")):
        return _cached(path, config) or train(config, device=device, progress=progress)


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
    g = torch.Generator().manual_seed(123_456)
    if config.data == "photos":
        images, labels = PhotoCrops(config.size).batch(32 * config.classes, g, split="validation")
    else:  # fresh noise: memorised labels cannot generalise, so this is chance
        images = torch.randn((256, 3, config.size, config.size), generator=g) / 4 + 0.5
        labels = torch.randint(config.classes, (256,), generator=g)
    return _accuracy(model, images, labels, device)


def _disabled(progress: bool | None) -> bool:
    import os

    return (not progress) if progress is not None else bool(os.environ.get("TQDM_DISABLE"))


@dataclass(frozen=True)
class Weights:
    """A model with trained weights, and a sentence saying where the weights came from."""

    label: str
    model: torch.nn.Module
    description: str


def trained_models(
    profile: Profile, weights: str | None = None, *, data: str = "photos", device=None
) -> list[Weights]:
    """The trained models a notebook compares with untrained ones, per the profile.

    ``weights="local"`` trains (or reuses from the cache) one model per ``profile.train_seeds``
    on ``data``; ``"imagenet"`` loads torchvision's weights for ``profile.trained_model`` and
    fails with instructions when they cannot be had: there is no silent fallback.
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
    out = []
    for config in profile_trainings(profile, (data,)):
        trained = ensure_trained(config, device=device)
        label = f"{data}, seed {config.seed}"
        out.append(Weights(label, trained_model(trained, device=device), trained.describe()))
    return out


def profile_trainings(profile: Profile, data: tuple[str, ...] | None = None) -> list[TrainConfig]:
    """The local training runs of a profile: one per ``train_seeds`` and dataset in ``data``
    (default: the photo models where the profile's weights are local, and the noise
    controls always). ``python -m depthrep.run`` trains them before the notebooks, side by side."""
    if data is None:
        data = ("photos", "noise") if profile.weights == "local" else ("noise",)
    steps = {"photos": profile.train_steps, "noise": profile.noise_steps}
    return [
        TrainConfig(model=profile.trained_model, data=d, size=profile.train_size, steps=steps[d], seed=seed)
        for d in data
        for seed in profile.train_seeds
    ]


def is_trained(config: TrainConfig, *, device=None) -> bool:
    """Whether a readable checkpoint for ``config`` (resolved for ``device``) is in the cache."""
    config = config.resolved(device)
    return _cached(config.path(), config, quiet=True) is not None
