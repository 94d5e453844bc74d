"""Worlds: training data whose structure is known, generated from a seed, never stored.

The paper's last claim is that a trained model's deep layers map any input onto what it
learned in training. To test it, the same architecture is trained on several worlds that
differ in kind, and a judge says which world a reconstruction belongs to
(:mod:`depthrep.studies.judge`). Each world is one function
``(count, size, generator, split) -> (images (count, 3, size, size) in [0, 1], labels (count,))``
with a classification task of its own:

- ``photos``: random crops of the photographs in :data:`TRAIN_PHOTOS`, labelled by photo
  (every colour photograph scikit-image ships, and its four grey ones, less the held-out
  targets :data:`HELD_OUT`); the validation split crops a band no training crop touches;
- ``gratings``: oriented sine gratings of random frequency, phase and two random colours,
  labelled by orientation (:data:`ORIENTATIONS` bins of 180 degrees);
- ``leaves``: dead leaves, discs of random colour drawn over each other, labelled by the
  range their radii are drawn from (:data:`LEAF_SIZES` bins, small to large);
- ``noise``: the paper's control, ``randn / 4 + 0.5`` with random labels, clipped to
  ``[0, 1]`` like every other world (4.6 % of the paper's pixels lie outside).

Sizes are fractions of the image side, so a world looks the same at 32 and 224 px.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torchvision.transforms.v2 import functional as TF

from depthrep.zoo.images import load_image

# Photographs the photo world is made of: one class each (scikit-image samples, all in the wheel).
TRAIN_PHOTOS = (
    "astronaut", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina",
    "camera", "brick", "grass", "gravel",
)  # fmt: skip
HELD_OUT = ("grace_hopper", "chelsea")
"""Photographs no model is trained on: the notebooks' targets."""
VALIDATION_BAND = 0.25
"""Fraction of each photo's height (the bottom band) used only for validation crops."""
ORIENTATIONS = 4
"""Orientation classes of the gratings (bins of 45 degrees, centred on 0, 45, 90, 135)."""
GRATING_CYCLES = (1.5, 6.0)
"""Range of grating frequencies, in cycles per image side (drawn log-uniformly)."""
LEAF_SIZES = ((0.04, 0.08), (0.08, 0.15), (0.15, 0.28), (0.28, 0.5))
"""Radius ranges of the dead-leaves classes, as fractions of the image side."""
NOISE_CLASSES = 10
"""Random labels of the noise world (as many as there are training photos)."""

HEAD = max(len(TRAIN_PHOTOS), ORIENTATIONS, len(LEAF_SIZES), NOISE_CLASSES)
"""Outputs of every world model's classifier: as many as the world with the most classes
(a world with fewer uses the first ones), so that one seed initialises the same network
whatever the world it is trained on."""
UNTRAINED = "untrained"
"""What the world experiment calls the untrained model, beside the world names."""

SPLITS = ("train", "validation")
"""``split`` values of a world's generator: only the photos differ between them."""

Draw = Callable[[int, int, torch.Generator, str], tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class World:
    """One world: its generator, its number of classes and what a label means."""

    name: str
    draw: Draw
    classes: int
    label: str


def _uniform(shape, generator: torch.Generator, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
    return low + (high - low) * torch.rand(shape, generator=generator)


@functools.lru_cache(maxsize=4)
def _photos(size: int) -> tuple[torch.Tensor, ...]:
    """The training photos, downscaled once so crops of ``size`` px keep detail: ``(3, H, W)`` each."""
    out = []
    for name in TRAIN_PHOTOS:
        image = load_image(name)[0]
        short = min(image.shape[-2:])
        out.append(TF.resize(image, [3 * size], antialias=True) if short > 3 * size else image)
    return tuple(out)


def photos(count: int, size: int, generator: torch.Generator, split: str = "train"):
    """Random square crops of :data:`TRAIN_PHOTOS` (10 to 60 % of the training band's area),
    resized to ``size``; training crops are flipped and colour-jittered. Validation crops
    are drawn at the same scale but clipped to their band (:data:`VALIDATION_BAND` of the
    height), so most are smaller, zoomed in up to 3x. Labels: the photo's index."""
    pictures = _photos(size)
    labels = torch.randint(len(pictures), (count,), generator=generator)
    crops = [_crop(pictures[int(k)], size, generator, split) for k in labels]
    return torch.stack(crops), labels


def _crop(photo: torch.Tensor, size: int, g: torch.Generator, split: str) -> torch.Tensor:
    height, width = photo.shape[-2:]
    band = int(height * (1 - VALIDATION_BAND))
    top, bottom = (0, band) if split == "train" else (band, height)
    uniform = lambda lo, hi: lo + (hi - lo) * float(torch.rand((), generator=g))  # noqa: E731
    side = min(max(8, int(min(band, width) * math.sqrt(uniform(0.1, 0.6)))), bottom - top, width)
    i = top + int(uniform(0, bottom - top - side + 1))
    j = int(uniform(0, width - side + 1))
    crop = TF.resized_crop(photo, i, j, side, side, [size, size], antialias=True)
    if split == "train":
        if uniform(0, 1) < 0.5:
            crop = crop.flip(-1)
        crop = TF.adjust_brightness(crop, uniform(0.7, 1.3))
        crop = TF.adjust_contrast(crop, uniform(0.7, 1.3))
        crop = TF.adjust_saturation(crop, uniform(0.7, 1.3))
    return crop.clamp(0, 1)


def gratings(count: int, size: int, generator: torch.Generator, split: str = "train"):
    """Sine gratings between two random colours: random orientation, phase and frequency
    (:data:`GRATING_CYCLES` per side). Labels: orientation bin (:data:`ORIENTATIONS`)."""
    g = generator
    angle = _uniform((count, 1, 1), g, 0, math.pi)
    low, high = (math.log(c) for c in GRATING_CYCLES)
    cycles = torch.exp(_uniform((count, 1, 1), g, low, high))
    phase = _uniform((count, 1, 1), g, 0, 2 * math.pi)
    colours = _uniform((count, 2, 3), g)
    axis = (torch.arange(size) + 0.5) / size
    y, x = axis.view(1, -1, 1), axis.view(1, 1, -1)
    wave = 0.5 + 0.5 * torch.sin(2 * math.pi * cycles * (x * angle.cos() + y * angle.sin()) + phase)
    a, b = colours[:, 0].view(count, 3, 1, 1), colours[:, 1].view(count, 3, 1, 1)
    images = a + (b - a) * wave.unsqueeze(1)
    bins = torch.floor(angle.view(count) / (math.pi / ORIENTATIONS) + 0.5).long() % ORIENTATIONS
    return images.clamp(0, 1), bins


def leaves(count: int, size: int, generator: torch.Generator, split: str = "train"):
    """Dead leaves: discs of random colour, each drawn over the ones before, with radii
    uniform in the class's range (:data:`LEAF_SIZES`, fractions of the side) and enough of
    them (:func:`leaf_count`) to cover the image about twice. Labels: the radius class,
    small to large."""
    labels = torch.randint(len(LEAF_SIZES), (count,), generator=generator)
    images = torch.empty((count, 3, size, size))
    for k, bounds in enumerate(LEAF_SIZES):
        members = (labels == k).nonzero().flatten()
        if len(members):
            images[members] = _dead_leaves(len(members), size, bounds, leaf_count(*bounds), generator)
    return images, labels


def _dead_leaves(count: int, size: int, bounds: tuple[float, float], discs: int, g: torch.Generator):
    """``(count, 3, size, size)``: ``discs`` discs each, radii uniform in ``bounds``."""
    radius = _uniform((count, discs), g, *bounds)
    centre = _uniform((count, discs, 2), g, -0.1, 1.1)
    colour = torch.cat([_uniform((count, 1, 3), g), _uniform((count, discs, 3), g)], dim=1)  # 0: background
    axis = (torch.arange(size) + 0.5) / size
    y, x = axis.view(1, 1, -1, 1), axis.view(1, 1, 1, -1)
    top = torch.zeros((count, size, size))  # the last disc drawn at each pixel (0: none)
    for first in range(0, discs, 32):  # 32 discs at a time bounds the memory at large sizes
        cy, cx = (centre[:, first : first + 32, i].view(count, -1, 1, 1) for i in (0, 1))
        r = radius[:, first : first + 32].view(count, -1, 1, 1)
        number = torch.arange(first + 1, first + 1 + r.shape[1], dtype=top.dtype).view(1, -1, 1, 1)
        inside = ((y - cy) ** 2 + (x - cx) ** 2) < r**2  # (count, chunk, S, S)
        top = torch.maximum(top, (inside * number).amax(1))
    images = torch.gather(colour, 1, top.long().view(count, -1, 1).expand(-1, -1, 3))
    return images.view(count, size, size, 3).permute(0, 3, 1, 2)


def leaf_count(low: float, high: float, cover: float = 2.0) -> int:
    """Discs of radius uniform in ``[low, high]`` (fractions of the side) whose summed area
    is ``cover`` times that of the square their centres fall in (1.2 sides wide)."""
    mean_area = math.pi * (low**2 + low * high + high**2) / 3
    return math.ceil(cover * 1.2**2 / mean_area)


def noise(count: int, size: int, generator: torch.Generator, split: str = "train"):
    """The paper's control: ``randn / 4 + 0.5`` pixels, clipped to ``[0, 1]``, with random
    labels (:data:`NOISE_CLASSES`)."""
    images = torch.randn((count, 3, size, size), generator=generator) / 4 + 0.5
    return images.clamp(0, 1), torch.randint(NOISE_CLASSES, (count,), generator=generator)


WORLDS: dict[str, World] = {
    "photos": World("photos", photos, len(TRAIN_PHOTOS), "which photograph the crop is from"),
    "gratings": World("gratings", gratings, ORIENTATIONS, "orientation, in bins of 45 degrees"),
    "leaves": World("leaves", leaves, len(LEAF_SIZES), "disc size class, small to large"),
    "noise": World("noise", noise, NOISE_CLASSES, "random (a fixed set of images is memorised)"),
}
"""Every world, by name, in the order the judge numbers them."""


def get_world(name: str) -> World:
    """A world by name; an unknown name raises ``ValueError`` listing the valid ones."""
    from depthrep._util.names import did_you_mean

    if name not in WORLDS:
        raise ValueError(
            f"Unknown world {name!r}.{did_you_mean(name, WORLDS)} Choose one of {', '.join(WORLDS)}."
        )
    return WORLDS[name]


def draw(world: str, count: int, size: int, seed: int = 0, split: str = "train"):
    """``count`` samples of a world, from a seed: ``(count, 3, size, size)`` in ``[0, 1]`` and
    their ``(count,)`` labels. The same arguments give the same images."""
    return get_world(world).draw(count, size, torch.Generator().manual_seed(seed), check_split(split))


def check_split(split: str) -> str:
    """``split`` if it is one of :data:`SPLITS`; else ``ValueError`` naming them."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")
    return split


def mixture(count: int, size: int, generator: torch.Generator, split: str = "train"):
    """Samples of every world at once, labelled by world (its index in :data:`WORLDS`):
    the judge's task. ``(count, 3, size, size)`` and ``(count,)``."""
    check_split(split)
    which = torch.randint(len(WORLDS), (count,), generator=generator)
    images = torch.empty((count, 3, size, size))
    for index, world in enumerate(WORLDS.values()):
        members = (which == index).nonzero().flatten()
        if len(members):
            images[members] = world.draw(len(members), size, generator, split)[0]
    return images, which


BLUR_SIGMA = (0.5, 2.0)
"""Range of the judge's training blur, in pixels at 32 px (scaled with the side)."""
NOISE_SIGMA = (0.02, 0.2)
"""Range of the judge's training pixel noise."""


def blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """A Gaussian blur of ``sigma`` pixels at 32 px, scaled with the image side (so a blur
    means the same at every size); the kernel spans two sigmas each side.
    ``(..., 3, H, W) -> (..., 3, H, W)``."""
    sigma = sigma * images.shape[-1] / 32
    return TF.gaussian_blur(images, [2 * math.ceil(2 * sigma) + 1] * 2, [sigma, sigma])


def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The judge's augmentations, so that smoothness, contrast or grain alone cannot tell a
    world: each image is, each with even chance and in this order, blurred
    (:data:`BLUR_SIGMA`) or sharpened (unsharp mask), lowered in contrast (to 30-100 %),
    and given pixel noise (:data:`NOISE_SIGMA`). ``(B, 3, H, W) -> (B, 3, H, W)`` in ``[0, 1]``."""
    g = generator
    out = images.clone()
    for i in range(len(images)):
        x = images[i]
        coin = torch.rand(4, generator=g)
        if coin[0] < 0.5:
            blurred = blur(x, float(_uniform((), g, *BLUR_SIGMA)))
            x = blurred if coin[1] < 0.5 else x + float(_uniform((), g, 0.5, 1.5)) * (x - blurred)
        if coin[2] < 0.5:
            mean = x.mean(dim=(-2, -1), keepdim=True)
            x = mean + float(_uniform((), g, 0.3, 1.0)) * (x - mean)
        if coin[3] < 0.5:
            x = x + float(_uniform((), g, *NOISE_SIGMA)) * torch.randn(x.shape, generator=g)
        out[i] = x
    return out.clamp(0, 1)
