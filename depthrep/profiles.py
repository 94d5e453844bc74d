"""Run profiles: the sizes every notebook runs at, defined once.

- ``ci``: a 2-core CPU, every notebook together in a few minutes; small images, few
  steps, but chosen so that each figure still shows its claim.
- ``laptop`` (the notebooks' default): meaningful figures on a laptop CPU, a few minutes
  a notebook.
- ``paper``: the paper's sizes and iteration counts (299 px, thousands to 100,000+
  iterations); a GPU expected.

A notebook's ``parameters`` cell names the profile (papermill: ``-p profile ci``) and may
override single fields: ``get_profile("ci", steps=400)``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .names import did_you_mean


@dataclass(frozen=True)
class Profile:
    """Every size a notebook takes from its profile."""

    name: str
    size: int
    """Image side for the ResNet experiments (the paper: 299)."""
    steps: int
    """Inversion steps for the ResNet experiments (the paper: 500 and more)."""
    models: tuple[str, ...]
    """Untrained ResNets compared across depth (experiments 2 and 3)."""
    images: tuple[str, ...]
    """Target images (samples of :func:`depthrep.load_image`, or files): the untrained
    chapters check every claim on each. Every profile has a textured photograph
    (``grace_hopper``) and a smooth one (``rocket``), so that no margin holds only because
    a target is rich in edges."""
    seeds: tuple[int, ...]
    """Seeds of the starting noise: every claim is checked on each."""
    run_steps: int
    """Steps of the long runs whose curves are plotted (experiment 4)."""
    run_budgets: tuple[int, ...]
    """Step budgets of separate runs at a deep and an early layer, spanning at least two
    orders of magnitude: does ``m_i`` keep falling with the budget, or level off?"""
    fc_size: int
    """Side of the fully connected nets' input (the paper: 29, so 2523 values)."""
    fc_steps: int
    """Iteration budget of the fully connected inversions."""
    fc_budgets: tuple[int, ...]
    """Iteration budgets of the iterations-vs-width experiment (the paper: 1,000-100,000)."""
    weights: str
    """Trained weights: ``"local"`` (trained here, offline) or ``"imagenet"``."""
    trained_model: str
    """Architecture of the trained-versus-untrained experiments."""
    train_size: int
    """Side of the images local models are trained on, and inverted at."""
    train_steps: int
    """Optimiser steps of a local training run (batches of 64)."""
    train_seeds: tuple[int, ...]
    """Local models trained per dataset: claims on trained models hold for each."""
    world_size: int
    """Side of the worlds' images (:mod:`depthrep.worlds`): the world models and the judge
    are trained at it, and the world experiment inverts at it."""
    world_steps: int
    """Optimiser steps of each world model (batches of 64): the same for every world."""
    world_seeds: tuple[int, ...]
    """World models trained per world: the world experiment's claims hold for each."""
    judge_steps: int
    """Optimiser steps of the world judge (:data:`depthrep.train.JUDGE_MODEL`)."""

    def trained_size(self, weights: str | None = None) -> int:
        """Image side for experiments with trained weights: local models are inverted at the
        size they were trained at, ImageNet models at :attr:`size`."""
        return self.train_size if (weights or self.weights) == "local" else self.size


PROFILES: dict[str, Profile] = {
    "ci": Profile(
        name="ci", size=64, steps=150, models=("resnet18", "resnet50"), images=("grace_hopper", "rocket"),
        seeds=(0, 1), run_steps=300, run_budgets=(10, 100, 1000), fc_size=12, fc_steps=1500,
        fc_budgets=(100, 1000, 4000), weights="local", trained_model="resnet18", train_size=64,
        train_steps=500, train_seeds=(0, 1), world_size=32, world_steps=300, world_seeds=(0, 1),
        judge_steps=2400,
    ),
    "laptop": Profile(
        name="laptop", size=128, steps=300, models=("resnet18", "resnet50", "resnet152"),
        images=("grace_hopper", "chelsea", "rocket"), seeds=(0, 1), run_steps=600,
        run_budgets=(30, 300, 3000), fc_size=16, fc_steps=3000, fc_budgets=(100, 1000, 8000),
        weights="local", trained_model="resnet18", train_size=64, train_steps=1000, train_seeds=(0, 1),
        world_size=32, world_steps=1000, world_seeds=(0, 1, 2), judge_steps=3000,
    ),
    "paper": Profile(
        name="paper", size=299, steps=1000, models=("resnet18", "resnet50", "resnet152"),
        images=("grace_hopper", "chelsea", "astronaut", "rocket"), seeds=(0, 1, 2), run_steps=5000,
        run_budgets=(1000, 10_000, 100_000), fc_size=29, fc_steps=20_000, fc_budgets=(1000, 10_000, 100_000),
        weights="imagenet", trained_model="resnet50", train_size=224, train_steps=5000, train_seeds=(0,),
        world_size=128, world_steps=5000, world_seeds=(0, 1, 2), judge_steps=10_000,
    ),
}  # fmt: skip


def get_profile(name: str | Profile = "laptop", **overrides) -> Profile:
    """A profile by name, with single fields replaced; ``None`` values are ignored.

    Raises:
        ValueError: unknown profile or field; the message lists the valid ones.
    """
    if isinstance(name, Profile):
        base = name
    elif name in PROFILES:
        base = PROFILES[name]
    else:
        raise ValueError(
            f"Unknown profile {name!r}.{did_you_mean(name, PROFILES)} Choose one of {', '.join(PROFILES)}."
        )
    fields = {f.name for f in dataclasses.fields(Profile)} - {"name"}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        hints = "".join(did_you_mean(u, fields) for u in unknown)
        raise ValueError(f"Unknown profile fields {unknown}.{hints} Valid ones are {sorted(fields)}.")
    changes = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items() if v is not None}
    return dataclasses.replace(base, **changes)
