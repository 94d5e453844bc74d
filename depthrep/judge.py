"""Which world does a reconstruction belong to? The world judge and the pull it measures.

The paper claims that a trained model's deep layers map any input onto the manifold of
its training data. Here the same architecture is trained on several worlds
(:mod:`depthrep.worlds`), every model reconstructs the same targets from every layer, and
a judge, a classifier of world membership that knows nothing of those models (another
architecture, another seed, trained on blurred, sharpened and noisy samples so that
smoothness alone cannot decide), gives ``P(world | reconstruction)``.

The *pull* of the model trained on world ``W`` at layer ``l`` is ``P(W | its
reconstruction)`` minus ``P(W | the untrained model's reconstruction)`` of the same target
from the same layer and start, averaged over the targets that are not from ``W``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torchvision.transforms.v2.functional as TF
from torch import nn

from .images import load_image
from .invert import invert
from .manifold import phase_randomise
from .models import model_device
from .worlds import HELD_OUT, UNTRAINED, WORLDS, draw

TEST_SEED = 777_000
"""Seeds the judge's test samples: none of them is drawn in any training run."""
TEST_BLUR = 1.5
"""Blur (pixels at 32 px, scaled with the side) of the judge's blurred test samples."""


def probabilities(judge: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W) -> (B, worlds)``: the judge's ``P(world | image)``, worlds in the
    order of :data:`depthrep.worlds.WORLDS`."""
    device = model_device(judge)
    with torch.no_grad():
        return torch.cat([judge(c.to(device)).float().softmax(1).cpu() for c in images.detach().split(256)])


def blur(images: torch.Tensor, sigma: float = TEST_BLUR) -> torch.Tensor:
    """A Gaussian blur of ``sigma`` pixels at 32 px, scaled with the image side."""
    sigma = sigma * images.shape[-1] / 32
    return TF.gaussian_blur(images, [2 * int(2 * sigma + 0.5) + 1] * 2, [sigma, sigma])


@dataclass(frozen=True)
class JudgeAccuracy:
    """The judge's accuracy per world on samples no training run drew."""

    clean: dict[str, float]
    blurred: dict[str, float]
    """On the same samples blurred by :data:`TEST_BLUR` pixels (at 32 px)."""
    phase_randomised_photos: float
    """Share of phase-randomised photo crops (photo spectra, structure destroyed) the judge
    calls photos."""

    def rows(self) -> list[dict]:
        return [
            {"world": w, "held-out accuracy": self.clean[w], "blurred": self.blurred[w]} for w in WORLDS
        ] + [{"world": "photos, phase-randomised", "held-out accuracy": self.phase_randomised_photos}]


def judge_accuracy(judge: nn.Module, size: int, count: int = 128, seed: int = TEST_SEED) -> JudgeAccuracy:
    """Test the judge on ``count`` fresh samples of each world at ``size`` px, clean and
    blurred, and on phase-randomised photo crops (the validation bands)."""
    clean, blurred = {}, {}
    for index, world in enumerate(WORLDS):
        images = draw(world, count, size, seed + index, "validation")[0]
        clean[world] = float((probabilities(judge, images).argmax(1) == index).float().mean())
        blurred[world] = float((probabilities(judge, blur(images)).argmax(1) == index).float().mean())
    photos = draw("photos", count, size, seed, "validation")[0]
    shuffled = phase_randomise(photos, seed).clamp(0, 1)
    photo_index = list(WORLDS).index("photos")
    called = float((probabilities(judge, shuffled).argmax(1) == photo_index).float().mean())
    return JudgeAccuracy(clean, blurred, called)


@dataclass(frozen=True)
class WorldPull:
    """Every model's reconstructions of every target from every layer, and how the judge
    sees them."""

    kinds: tuple[str, ...]
    """:data:`UNTRAINED`, then the worlds the models were trained on."""
    layers: tuple[str, ...]
    """Shallowest first."""
    target_worlds: tuple[str, ...]
    """The world each target is from."""
    probabilities: torch.Tensor
    """``(kinds, train seeds, layers, starts, targets, worlds)``: ``P(world | reconstruction)``."""
    images: torch.Tensor
    """``(kinds, train seeds, layers, starts, targets, 3, H, W)``: the reconstructions."""

    @property
    def worlds(self) -> tuple[str, ...]:
        return tuple(WORLDS)

    def foreign(self, kind: str) -> torch.Tensor:
        """``(targets,)`` bool: the targets not from ``kind``'s world (all, for the untrained)."""
        return torch.tensor([t != kind for t in self.target_worlds])

    def probability(self, kind: str, world: str) -> torch.Tensor:
        """``(train seeds, layers, starts, foreign targets)``: ``P(world)`` of ``kind``'s
        reconstructions of the targets foreign to ``kind``."""
        p = self.probabilities[self.kinds.index(kind), ..., self.worlds.index(world)]
        return p[..., self.foreign(kind)]

    def pull(self, world: str) -> torch.Tensor:
        """``(train seeds, layers)``: mean ``P(world)`` of the ``world`` model's reconstructions
        minus the untrained model's, on the targets foreign to ``world``."""
        mask = self.foreign(world)
        untrained = self.probabilities[self.kinds.index(UNTRAINED), ..., self.worlds.index(world)][..., mask]
        return (self.probability(world, world) - untrained).mean(dim=(-2, -1))

    def top_share(self, kind: str, world: str) -> torch.Tensor:
        """``(train seeds, layers)``: share of ``kind``'s reconstructions of targets foreign to
        ``world`` that the judge calls ``world``."""
        p = self.probabilities[self.kinds.index(kind)][..., self.foreign(world), :]
        return (p.argmax(-1) == self.worlds.index(world)).float().mean(dim=(-2, -1))

    def kept(self) -> torch.Tensor:
        """``(kinds, train seeds, layers)``: share of reconstructions the judge assigns to their
        target's world."""
        truth = torch.tensor([self.worlds.index(t) for t in self.target_worlds])
        return (self.probabilities.argmax(-1) == truth).float().mean(dim=(-2, -1))

    def specificity(self, world: str) -> torch.Tensor:
        """``(train seeds, layers)``: mean ``P(world)`` of the ``world`` model's reconstructions
        minus that of the other *trained* models, on the targets foreign to ``world``. Where
        training alone makes reconstructions look like ``world`` (smooth blobs look like
        dead leaves), the pull is positive but this is not."""
        mask, w = self.foreign(world), self.worlds.index(world)
        others = [k for k, kind in enumerate(self.kinds) if kind not in (UNTRAINED, world)]
        own = self.probability(world, world).mean(dim=(-2, -1))
        if not others:
            return torch.full_like(own, float("nan"))
        rest = self.probabilities[others][..., mask, w].mean(dim=(0, -2, -1))
        return own - rest

    def pulling(self, layer: str) -> list[str]:
        """The worlds whose model pulls toward them at ``layer`` on every training seed:
        positive :meth:`pull`, and the judge names the world for more of its reconstructions
        than for the untrained model's (:meth:`top_share`)."""
        i = self.layers.index(layer)
        return [
            w for w in self.kinds[1:]
            if bool((self.pull(w)[:, i] > 0).all())
            and bool((self.top_share(w, w)[:, i] > self.top_share(UNTRAINED, w)[:, i]).all())
        ]  # fmt: skip

    def reconstructions(self, target: int = 0, seed: int = 0, start: int = 0) -> dict[str, torch.Tensor]:
        """``{kind: (layers, 3, H, W)}``: every kind's reconstructions of one target."""
        return {kind: self.images[k, seed, :, start, target] for k, kind in enumerate(self.kinds)}

    def answers(self, target: int = 0, seed: int = 0, start: int = 0) -> dict[str, list[str]]:
        """``{kind: ["leaves 0.79", ...]}``: the judge's top answer for each reconstruction of
        :meth:`reconstructions`, with its probability."""
        p = self.probabilities[:, seed, :, start, target]  # (kinds, layers, worlds)
        best, index = p.max(-1)
        return {
            kind: [f"{self.worlds[int(j)]} {float(b):.2f}" for b, j in zip(best[k], index[k], strict=True)]
            for k, kind in enumerate(self.kinds)
        }

    def heat(self) -> torch.Tensor:
        """``(kinds, layers, worlds)``: mean ``P(world)`` of each kind's reconstructions of its
        foreign targets, over training seeds and starts."""
        return torch.stack([
            self.probabilities[k][..., self.foreign(kind), :].mean(dim=(0, 2, 3))
            for k, kind in enumerate(self.kinds)
        ])  # fmt: skip


def world_targets(size: int, seed: int = TEST_SEED) -> tuple[torch.Tensor, tuple[str, ...]]:
    """Targets from outside every training set, the same number from each world: the
    held-out photographs (:data:`depthrep.worlds.HELD_OUT`) and as many fresh samples of
    each other world. ``(T, 3, size, size)`` and the world of each."""
    photos = torch.cat([load_image(name, size) for name in HELD_OUT])
    others = [w for w in WORLDS if w != "photos"]
    fresh = [draw(w, len(HELD_OUT), size, seed + i, "validation")[0] for i, w in enumerate(others, 1)]
    return torch.cat([photos, *fresh]), ("photos",) * len(HELD_OUT) + sum(
        ((w,) * len(HELD_OUT) for w in others), ()
    )


def measure_pull(
    models: Mapping[str, Sequence[nn.Module]],
    targets: torch.Tensor,
    target_worlds: Sequence[str],
    judge: nn.Module,
    layers: Sequence[str],
    steps: int,
    seeds: Sequence[int] = (0,),
    **invert_kwargs,
) -> WorldPull:
    """Invert ``targets`` from every layer of every model and judge the reconstructions.

    Args:
        models: ``{UNTRAINED: [model per training seed], world: [model per training seed],
            ...}``: the same number of models each, the ``i``-th of every kind from the
            same training seed (the untrained one is its initialisation).
        targets: ``(T, 3, H, W)`` in ``[0, 1]``, from outside every training set.
        target_worlds: the world each target is from.
        judge: the world classifier (its output order is :data:`WORLDS`).
        layers: layer names, shallowest first; ``seeds``: starting-noise seeds.
        invert_kwargs: passed to :func:`depthrep.invert`.
    """
    if UNTRAINED not in models:
        raise ValueError(f"models needs the untrained baseline under {UNTRAINED!r}; got {sorted(models)}")
    unknown = sorted(set(models) - {UNTRAINED} - set(WORLDS)) + sorted(set(target_worlds) - set(WORLDS))
    if unknown:
        raise ValueError(f"Unknown worlds {unknown}; the judge knows {', '.join(WORLDS)}.")
    if len(target_worlds) != len(targets):
        raise ValueError(f"{len(targets)} targets but {len(target_worlds)} target worlds")
    counts = {len(v) for v in models.values()}
    if len(counts) != 1:
        raise ValueError(f"every kind needs the same number of models (one per training seed): {counts}")
    kinds = (UNTRAINED, *[k for k in models if k != UNTRAINED])
    rebuild = lambda m: _reconstructions(m, targets, layers, steps, seeds, invert_kwargs)  # noqa: E731
    images = torch.stack([torch.stack([rebuild(m) for m in models[k]]) for k in kinds])
    p = probabilities(judge, images.flatten(0, -4)).view(*images.shape[:-3], len(WORLDS))
    return WorldPull(kinds, tuple(layers), tuple(target_worlds), p, images)


def _reconstructions(model, targets, layers, steps, seeds, invert_kwargs) -> torch.Tensor:
    """``(layers, starts, targets, 3, H, W)``."""
    runs = [invert(model, targets, layers, steps, seed=s, **invert_kwargs) for s in seeds]
    return torch.stack([torch.stack([run[layer].image.cpu() for run in runs]) for layer in layers])
