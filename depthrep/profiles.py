"""Run profiles: the sizes every notebook runs at, defined once.

- ``ci``: a 2-core CPU, every notebook together as the quick check; small images, few
  steps, but chosen so that each figure still shows its claim.
- ``laptop`` (the notebooks' default): readable figures on a laptop CPU; larger images, a
  third ResNet, longer runs and better-trained local models than ``ci``, sized for the
  whole book on a 2-core laptop while the reader waits.
- ``workstation``: larger images and more steps than ``laptop``, a third target and world
  seed: sharper figures for a CPU with more cores or more time.
- ``paper``: the paper's sizes and iteration counts (299 px, thousands to 100,000+
  iterations); a GPU expected.

How long each takes is measured on the book's rerun page ("How long it takes"), not here.

A notebook's ``parameters`` cell names the profile (papermill: ``-p profile ci``) and may
override single fields: ``get_profile("ci", steps=400)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from depthrep._util.names import preset

__all__ = ["PROFILES", "Profile", "get_profile"]


@dataclass(frozen=True)
class Profile:
    """Every size a notebook takes from its profile."""

    name: str
    purpose: str
    """Who the profile is for, in a few words (the book's profile table)."""
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
    imagenet_size: int
    """Image side for EfficientNet-Lite0 with ImageNet weights and its untrained twin (trained at
    224 px; 64 px is outside what it saw, so 128 px at least)."""
    imagenet_steps: int
    """Inversion steps for EfficientNet-Lite0 and its twin (the trained-network chapters)."""
    world_size: int
    """Side of the worlds' images (:mod:`depthrep.studies.worlds`): the world models and the judge
    are trained at it, and the world experiment inverts at it."""
    world_steps: int
    """Optimiser steps of each world model (batches of :attr:`world_batch`): the same for every world."""
    world_batch: int
    """Images per optimiser step of each world model (the learning rate follows it:
    :func:`depthrep.studies.train.world_trainings`). ``ci`` takes 32, half the others': at 64 its world
    models' training was a third of a cold ``make test`` under AVX2, over CI's time."""
    world_seeds: tuple[int, ...]
    """World models trained per world: the world experiment's claims hold for each."""
    judge_steps: int
    """Optimiser steps of the world judge (:data:`depthrep.studies.train.JUDGE_MODEL`)."""

    def trained_size(self, weights: str | None = None) -> int:
        """Image side for experiments with trained weights: local models (the photo world's,
        :func:`depthrep.studies.trained_models`) are inverted at the size they were trained at,
        ImageNet models at :attr:`size`."""
        return self.world_size if (weights or self.weights) == "local" else self.size


PROFILES: dict[str, Profile] = {
    "ci": Profile(
        name="ci", purpose="a quick check on a CPU", size=64, steps=150, models=("resnet18", "resnet50"),
        images=("grace_hopper", "rocket"),
        seeds=(0, 1), run_steps=300, run_budgets=(10, 100, 1000), fc_size=12, fc_steps=1500,
        fc_budgets=(100, 1000, 4000), weights="local", trained_model="resnet18",
        imagenet_size=128, imagenet_steps=200, world_size=32, world_steps=300, world_batch=32,
        world_seeds=(0, 1), judge_steps=2400,
    ),
    "laptop": Profile(
        name="laptop", purpose="readable figures on a laptop", size=80, steps=150,
        models=("resnet18", "resnet50", "resnet152"), images=("grace_hopper", "rocket"), seeds=(0, 1),
        run_steps=400, run_budgets=(20, 200, 2000), fc_size=12, fc_steps=2000, fc_budgets=(100, 1000, 6000),
        weights="local", trained_model="resnet18",
        imagenet_size=128, imagenet_steps=300,
        world_size=32, world_steps=1000, world_batch=64, world_seeds=(0, 1), judge_steps=3000,
    ),
    "workstation": Profile(
        name="workstation", purpose="larger figures on a CPU with time to spare", size=128, steps=300,
        models=("resnet18", "resnet50", "resnet152"),
        images=("grace_hopper", "chelsea", "rocket"), seeds=(0, 1), run_steps=600,
        run_budgets=(30, 300, 3000), fc_size=16, fc_steps=3000, fc_budgets=(100, 1000, 8000),
        weights="local", trained_model="resnet18",
        imagenet_size=160, imagenet_steps=500,
        world_size=32, world_steps=1000, world_batch=64, world_seeds=(0, 1, 2),
        judge_steps=3000,
    ),
    "paper": Profile(
        name="paper", purpose="the paper's scale, on a GPU", size=299, steps=1000,
        models=("resnet18", "resnet50", "resnet152"),
        images=("grace_hopper", "chelsea", "astronaut", "rocket"), seeds=(0, 1, 2), run_steps=5000,
        run_budgets=(1000, 10_000, 100_000), fc_size=29, fc_steps=20_000, fc_budgets=(1000, 10_000, 100_000),
        weights="imagenet", trained_model="resnet50",
        imagenet_size=224, imagenet_steps=1000,
        world_size=128, world_steps=5000, world_batch=64, world_seeds=(0, 1, 2),
        judge_steps=10_000,
    ),
}  # fmt: skip


DEFAULT = "laptop"
"""The profile of the notebooks' ``parameters`` cell, and of :func:`get_profile`."""


def describe(profile: str | Profile) -> dict[str, str]:
    """One row of the book's table of profiles: the sizes a reader weighs when choosing one."""
    p = get_profile(profile)
    if p.weights == "local":
        seeds = f"{len(p.world_seeds)} seed{'s' * (len(p.world_seeds) > 1)}"
        trained = (
            f"{model_label(p.trained_model)} trained here on photo crops "
            f"({p.world_size} px, {p.world_steps} steps, {seeds})"
        )
    else:
        trained = f"{model_label(p.trained_model)} with ImageNet weights"
    return {
        "profile": f"`{p.name}`" + (" (default)" if p.name == DEFAULT else ""),
        "image side": f"{p.size} px", "steps": str(p.steps),
        "untrained models": ", ".join(map(model_label, p.models)), "images": str(len(p.images)),
        "seeds": str(len(p.seeds)), "trained ResNet (chapter 07)": trained,
        "ImageNet model": f"EfficientNet-Lite0 and its twin ({p.imagenet_size} px, {p.imagenet_steps} steps)",
        "meant for": p.purpose,
    }  # fmt: skip


def describe_worlds(profile: str | Profile) -> dict[str, str]:
    """One row of the book's table of the training-data chapter's sizes: world models and judge."""
    p = get_profile(profile)
    return {
        "profile": f"`{p.name}`", "image side": f"{p.world_size} px",
        "steps per world model": f"{p.world_steps} of {p.world_batch} images",
        "world models per world": str(len(p.world_seeds)),
        "judge steps": str(p.judge_steps),
    }  # fmt: skip


def model_label(name: str) -> str:
    """``"resnet18"`` as a reader writes it: ``"ResNet18"``."""
    return name.replace("resnet", "ResNet", 1) if name.startswith("resnet") else name


def get_profile(name: str | Profile = DEFAULT, **overrides) -> Profile:
    """A profile by name, with single fields replaced; ``None`` values are ignored.

    Raises:
        ValueError: unknown profile or field; the message lists the valid ones.
    """
    changes = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items() if v is not None}
    return preset(PROFILES, name, changes, kind="profile", error=ValueError)
