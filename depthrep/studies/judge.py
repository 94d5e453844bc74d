"""Which world does a reconstruction belong to? The world judge and the pull it measures.

The paper claims that a trained model's deep layers map any input onto the manifold of
its training data. Here the same architecture is trained on several worlds
(:mod:`depthrep.studies.worlds`), every model reconstructs the same targets from every layer, and
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
import torch.nn.functional as F
from torch import nn

from depthrep.core.jobs import model_reference, run_on
from depthrep.studies.manifold import phase_randomise
from depthrep.studies.worlds import HELD_OUT, UNTRAINED, WORLDS, blur, draw
from depthrep.zoo.images import load_image
from depthrep.zoo.models import model_device

TEST_SEED = 777_000
"""Seeds the judge's test samples: none of them is drawn in any training run."""
TEST_BLUR = 1.5
"""Blur (pixels at 32 px, scaled with the side; :func:`depthrep.studies.worlds.blur`) of the judge's
blurred test samples."""


def probabilities(judge: nn.Module, images: torch.Tensor, size: int | None = None) -> torch.Tensor:
    """``(B, 3, H, W) -> (B, worlds)``: the judge's ``P(world | image)``, worlds in the
    order of :data:`depthrep.studies.worlds.WORLDS`.

    ``size``: the side the judge was trained at (the profile's ``world_size``); images of
    another side are first resized to it by averaging over areas (antialiased), so that
    reconstructions made at a larger side are judged as the judge learned to see.
    """
    images = images.detach()
    if size is not None and images.shape[-2:] != (size, size):
        images = F.interpolate(images.float(), size=(size, size), mode="area")
    device = model_device(judge)
    with torch.no_grad():
        return torch.cat([judge(c.to(device)).float().softmax(1).cpu() for c in images.split(256)])


@dataclass(frozen=True)
class JudgeAccuracy:
    """The judge's accuracy per world on samples no training run drew."""

    clean: dict[str, float]
    blurred: dict[str, float]
    """On the same samples blurred by :data:`TEST_BLUR` pixels (at 32 px)."""
    phase_randomised_photos: float
    """Share of phase-randomised photo crops (photo spectra, structure destroyed) the judge
    calls photos."""
    targets: dict[str, float]
    """On the measurement's own targets (:func:`world_targets`), per world."""

    def rows(self) -> list[dict]:
        return [
            {
                "world": w,
                "held-out accuracy": self.clean[w],
                "blurred": self.blurred[w],
                "targets": self.targets[w],
            }
            for w in WORLDS
        ] + [{"world": "photos, phase-randomised", "held-out accuracy": self.phase_randomised_photos}]


def judged(judge: nn.Module, images: torch.Tensor, size: int | None = None) -> tuple[str, ...]:
    """The world the judge names for each of ``images`` ``(N, 3, H, W)``: its top answer
    (``size`` as in :func:`probabilities`)."""
    return tuple(list(WORLDS)[i] for i in probabilities(judge, images, size).argmax(1).tolist())


def judge_accuracy(judge: nn.Module, size: int, count: int = 128, seed: int = TEST_SEED) -> JudgeAccuracy:
    """Test the judge on ``count`` fresh samples of each world at ``size`` px, clean and
    blurred (by :data:`TEST_BLUR` pixels at 32 px), on phase-randomised photo crops (the
    validation bands) and on the targets of :func:`world_targets`."""
    clean, blurred = {}, {}
    for index, world in enumerate(WORLDS):
        images = draw(world, count, size, seed + index, "validation")[0]
        clean[world] = float((probabilities(judge, images).argmax(1) == index).float().mean())
        blurred[world] = float(
            (probabilities(judge, blur(images, TEST_BLUR)).argmax(1) == index).float().mean()
        )
    photos = draw("photos", count, size, seed, "validation")[0]
    shuffled = phase_randomise(photos, seed).clamp(0, 1)
    photo_index = list(WORLDS).index("photos")
    called = float((probabilities(judge, shuffled).argmax(1) == photo_index).float().mean())
    targets, worlds = world_targets(size)
    right = probabilities(judge, targets).argmax(1) == torch.tensor([list(WORLDS).index(w) for w in worlds])
    on_targets = {w: float(right[[t == w for t in worlds]].float().mean()) for w in WORLDS}
    return JudgeAccuracy(clean, blurred, called, on_targets)


@dataclass(frozen=True)
class WorldPull:
    """Every model's reconstructions of every target from every layer, and how the judge
    sees them. Every statistic about a world ``W`` is taken over the targets *not* from
    ``W`` (:meth:`foreign`): inputs foreign to ``W`` are what a pull toward ``W`` must move."""

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
    diverged: torch.Tensor | None = None
    """``(kinds, train seeds, layers, starts, targets)`` bool: runs that diverged (their image
    frozen where they did); ``None``: none recorded."""
    reached: torch.Tensor | None = None
    """``(kinds, train seeds, layers, starts, targets)`` bool: runs that ended with
    ``m_g < m_r`` without diverging (:attr:`depthrep.InversionResult.converged`); ``None``:
    not recorded."""

    def __post_init__(self):
        if self.kinds[:1] != (UNTRAINED,) or len(set(self.kinds)) != len(self.kinds):
            raise ValueError(f"kinds must start with {UNTRAINED!r} and not repeat: {self.kinds}")
        shape = (len(self.kinds), len(self.layers), len(self.target_worlds), len(WORLDS))
        p = self.probabilities.shape
        if len(p) != 6 or (p[0], p[2], p[4], p[5]) != shape or self.images.shape[:5] != p[:5]:
            raise ValueError(f"probabilities {tuple(p)} and images {tuple(self.images.shape)} do not match "
                             f"{len(self.kinds)} kinds, {len(self.layers)} layers, {len(self.target_worlds)} "
                             f"targets and {len(WORLDS)} worlds")  # fmt: skip

    @property
    def worlds(self) -> tuple[str, ...]:
        """The judge's classes, in its output order."""
        return tuple(WORLDS)

    @property
    def trained(self) -> tuple[str, ...]:
        """The worlds with a trained model here (every kind but the untrained)."""
        return self.kinds[1:]

    def usable(self, kind: str) -> torch.Tensor:
        """``(train seeds, layers, starts, targets)`` bool: ``kind``'s runs that did not diverge.
        Every statistic below is taken over these alone: a diverged run's image is no
        reconstruction, and the judge's view of it is no evidence."""
        if self.diverged is None:
            return torch.ones(self.probabilities.shape[1:5], dtype=torch.bool)
        return ~self.diverged[self.kinds.index(kind)]

    def finished(self, layer: str, share: float = 0.5) -> torch.Tensor:
        """``(train seeds,)`` bool: at ``layer``, more than ``share`` of every kind's runs did
        not diverge, for each training seed (what a claim on that layer takes as ``converged``:
        its statistics rest on enough runs)."""
        i = self.layers.index(layer)
        kept = torch.stack([self.usable(kind)[:, i].float().mean(dim=(-2, -1)) for kind in self.kinds])
        return (kept > share).all(0)

    def converged(self, layer: str) -> torch.Tensor:
        """``(train seeds, starts, targets)`` bool: at ``layer``, every kind's run of that
        member reached ``m_g < m_r`` without diverging (what a claim on single runs takes as
        ``converged``). Raises where :attr:`reached` was not recorded."""
        if self.reached is None:
            raise ValueError("these runs did not record whether they reached m_g < m_r (reached=None)")
        return self.reached[:, :, self.layers.index(layer)].all(0)

    def foreign(self, world: str) -> torch.Tensor:
        """``(targets,)`` bool: the targets not from ``world`` (all of them for :data:`UNTRAINED`)."""
        return torch.tensor([t != world for t in self.target_worlds])

    def probability(self, kind: str, world: str) -> torch.Tensor:
        """``(train seeds, layers, starts, foreign targets)``: ``P(world)`` of ``kind``'s
        reconstructions of the targets foreign to ``world``."""
        p = self.probabilities[self.kinds.index(kind), ..., self.worlds.index(world)]
        return p[..., self.foreign(world)]

    def mean_probability(self, kind: str, world: str) -> torch.Tensor:
        """``(train seeds, layers)``: :meth:`probability` averaged over the starts and targets
        whose runs did not diverge (NaN where none did)."""
        return _mean_where(self.probability(kind, world), self.usable(kind)[..., self.foreign(world)])

    def pull(self, world: str) -> torch.Tensor:
        """``(train seeds, layers)``: mean ``P(world)`` of the ``world`` model's reconstructions
        minus the untrained model's, on the targets foreign to ``world``."""
        return self.mean_probability(world, world) - self.mean_probability(UNTRAINED, world)

    def member_pull(self, world: str) -> torch.Tensor:
        """``(train seeds, layers, starts, foreign targets)``: :meth:`pull` run by run, before
        averaging: ``P(world)`` of the ``world`` model's reconstruction minus the untrained
        model's, same target, layer and start (diverged runs included: pair this with
        :meth:`converged`)."""
        return self.probability(world, world) - self.probability(UNTRAINED, world)

    def specificity(self, world: str) -> torch.Tensor:
        """``(train seeds, layers)``: mean ``P(world)`` of the ``world`` model's reconstructions
        minus that of the other *trained* models, on the targets foreign to ``world``. Where
        training alone makes reconstructions look like ``world`` (smooth blobs look like
        dead leaves), the pull is positive but this is not. NaN with no other trained model."""
        own = self.mean_probability(world, world)
        others = [self.mean_probability(kind, world) for kind in self.trained if kind != world]
        return own - torch.stack(others).mean(0) if others else torch.full_like(own, float("nan"))

    def top_share(self, kind: str, world: str) -> torch.Tensor:
        """``(train seeds, layers)``: share of ``kind``'s reconstructions of the targets foreign
        to ``world`` that the judge calls ``world``."""
        p = self.probabilities[self.kinds.index(kind)][..., self.foreign(world), :]
        named = (p.argmax(-1) == self.worlds.index(world)).float()
        return _mean_where(named, self.usable(kind)[..., self.foreign(world)])

    def kept(self) -> torch.Tensor:
        """``(kinds, train seeds, layers)``: share of reconstructions the judge assigns to their
        target's world."""
        truth = torch.tensor([self.worlds.index(t) for t in self.target_worlds])
        right = (self.probabilities.argmax(-1) == truth).float()
        return _mean_where(right, torch.stack([self.usable(kind) for kind in self.kinds]))

    def pulling(self, layer: str) -> list[str]:
        """The worlds whose model pulls toward them at ``layer`` on every training seed:
        positive :meth:`pull`, and the judge names the world for more of its reconstructions
        than for the untrained model's (:meth:`top_share`)."""
        i = self.layers.index(layer)
        return [
            w for w in self.trained
            if bool((self.pull(w)[:, i] > 0).all())
            and bool((self.top_share(w, w)[:, i] > self.top_share(UNTRAINED, w)[:, i]).all())
        ]  # fmt: skip

    def grows(self, shallow: str, deep: str) -> list[str]:
        """The worlds whose pull is larger at ``deep`` than at ``shallow`` on every training seed."""
        i, j = self.layers.index(shallow), self.layers.index(deep)
        return [w for w in self.trained if bool((self.pull(w)[:, j] > self.pull(w)[:, i]).all())]

    def rows(self, layer: str) -> list[dict]:
        """One table row per trained world at ``layer`` (values per training seed): pull,
        the judge's top answers against the untrained model's, and specificity."""
        i, stem = self.layers.index(layer), self.layers[0]
        return [{
            "world": w, f"pull at {stem}": self.pull(w)[:, 0], f"pull at {layer}": self.pull(w)[:, i],
            f"judged own world at {layer}": self.top_share(w, w)[:, i],
            "untrained judged so": self.top_share(UNTRAINED, w)[:, i],
            f"specificity at {layer}": self.specificity(w)[:, i],
        } for w in self.trained]  # fmt: skip

    def heat(self) -> torch.Tensor:
        """``(kinds, layers, worlds)``: each kind's mean ``P(world)``, over training seeds,
        starts and the targets foreign to that world (as in :meth:`pull`)."""
        per_kind = [[self.mean_probability(kind, w).mean(0) for w in self.worlds] for kind in self.kinds]
        return torch.stack([torch.stack(row, dim=-1) for row in per_kind])

    def reconstructions(
        self, target: int = 0, seed_index: int = 0, start: int = 0
    ) -> dict[str, torch.Tensor]:
        """``{kind: (layers, 3, H, W)}``: every kind's reconstructions of one target, by the
        models of the ``seed_index``-th training seed, from the ``start``-th start."""
        return {kind: self.images[k, seed_index, :, start, target] for k, kind in enumerate(self.kinds)}

    def answers(self, target: int = 0, seed_index: int = 0, start: int = 0) -> dict[str, list[str]]:
        """``{kind: ["leaves 0.79", ...]}``: the judge's top answer for each reconstruction of
        :meth:`reconstructions`, with its probability."""
        p = self.probabilities[:, seed_index, :, start, target]  # (kinds, layers, worlds)
        best, index = p.max(-1)
        return {
            kind: [f"{self.worlds[int(j)]} {float(b):.2f}" for b, j in zip(best[k], index[k], strict=True)]
            for k, kind in enumerate(self.kinds)
        }


def _mean_where(values: torch.Tensor, usable: torch.Tensor) -> torch.Tensor:
    """``values`` ``(..., starts, targets)`` averaged over the last two dims where ``usable``
    (bool, same shape); NaN where nothing is."""
    usable = usable.float()
    return (values * usable).sum(dim=(-2, -1)) / usable.sum(dim=(-2, -1))


def world_targets(size: int, seed: int = TEST_SEED) -> tuple[torch.Tensor, tuple[str, ...]]:
    """Targets from outside every training set, the same number from each world: the
    held-out photographs (:data:`depthrep.studies.worlds.HELD_OUT`) and as many fresh samples of
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
    *,
    judge_size: int | None = None,
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
        judge_size: the side the judge was trained at, where the targets have another
            (:func:`probabilities`); the reconstructions are kept at the targets' side.
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
    made = [[rebuild(m) for m in models[k]] for k in kinds]
    images, diverged, reached = (
        torch.stack([torch.stack([one[i] for one in per_kind]) for per_kind in made]) for i in range(3)
    )
    p = probabilities(judge, images.flatten(0, -4), judge_size).view(*images.shape[:-3], len(WORLDS))
    return WorldPull(kinds, tuple(layers), tuple(target_worlds), p, images, diverged, reached)


def _reconstructions(
    model, targets, layers, steps, seeds, invert_kwargs
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(layers, starts, targets, 3, H, W)`` images; ``(layers, starts, targets)`` bools:
    diverged, and reached ``m_g < m_r`` without diverging."""
    weights = model_reference(model)  # once for every start's job
    runs = [run_on(model, targets, layers, steps, seed=s, weights=weights, **invert_kwargs).results
            for s in seeds]  # fmt: skip

    def per_layer(field: str) -> torch.Tensor:
        per_start = lambda layer: torch.stack([getattr(run[layer], field).cpu() for run in runs])  # noqa: E731
        return torch.stack([per_start(layer) for layer in layers])

    return per_layer("image"), per_layer("diverged"), per_layer("converged")
