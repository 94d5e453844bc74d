"""Chapter 09, *Training data*: small ResNets trained on synthetic worlds, and what a judge
trained to tell the worlds apart sees in their reconstructions.

``pull`` is a :class:`~depthrep.studies.WorldPull`: every world model's reconstructions of
targets from every world, at every layer, judged (:func:`~depthrep.studies.measure_pull`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from depthrep.book.report import Claim, claim
from depthrep.studies.judge import JudgeAccuracy, WorldPull, judged
from depthrep.studies.worlds import UNTRAINED, WORLDS

SMOOTHER = 0.85
"""First-layer filters count as smoothed by training below this share of the untrained
model's roughness (:func:`~depthrep.studies.filter_roughness`)."""


def judge_tells_every_world(accuracy: JudgeAccuracy) -> Claim:
    """The judge is fit to judge: above 75 % on fresh samples of every world, clean and blurred."""
    return claim(
        "the judge tells every world: > 75 % on fresh samples, clean and blurred",
        [min(accuracy.clean.values()) > 0.75, min(accuracy.blurred.values()) > 0.75],
        baseline=f"chance, 1 in {len(accuracy.clean)}",
        margin="75 % accuracy",
        clean=list(accuracy.clean.values()),
        blurred=list(accuracy.blurred.values()),
    )


def judge_calls_photographs_photographs(judge: nn.Module, photographs: torch.Tensor) -> Claim:
    """The judge calls every held-out photograph ``(N, 3, H, W)`` a photograph."""
    seen = judged(judge, photographs)
    return claim(
        "the judge calls every held-out photograph a photograph",
        [s == "photos" for s in seen],
        baseline=f"chance, 1 in {len(WORLDS)}",
        margin="its top answer",
        called_a_photo=[float(s == "photos") for s in seen],
    )


def judge_names_larger_targets(
    judge: nn.Module, targets: torch.Tensor, worlds: Sequence[str], size: int
) -> Claim:
    """The judge still names the world of targets drawn larger (``(N, 3, H, W)``, of
    ``worlds``) once shown at its own ``size``: it can judge the ImageNet model's
    reconstructions."""
    seen = judged(judge, targets, size)
    return claim(
        f"the judge names the world of every foreign target drawn at {targets.shape[-1]} px and "
        f"shown at {size} px",
        [s == w for s, w in zip(seen, worlds, strict=True)],
        baseline=f"chance, 1 in {len(WORLDS)}",
        margin="its top answer",
        named_its_world=[float(s == w) for s, w in zip(seen, worlds, strict=True)],
    )


def own_world_at_the_last_layer(pull: WorldPull, world: str) -> Claim:
    """(a) The paper: deep layers pull any input toward what the model was trained on. At the
    last layer, ``world``'s model's reconstructions of foreign targets look more like
    ``world`` than the other trained models' do (specificity > 0), every seed. Checked as the
    paper states it (a finding either way), on finished runs."""
    last = pull.layers[-1]
    return claim(
        f"(a) {world}: at {last} its model's reconstructions of foreign targets look more like {world} "
        "than the other trained models' do (specificity > 0), every seed",
        pull.specificity(world)[:, -1] > 0,
        finding=True,
        converged=pull.finished(last),
        baseline=f"P({world}) of the other trained models' reconstructions, same targets and layer",
        margin="0 (direction)",
        specificity=pull.specificity(world)[:, -1],
    )


def own_world_grows_with_depth(pull: WorldPull, world: str) -> Claim:
    """(b) The pull is a property of depth: ``world``'s specificity is larger at the last
    layer than at the first, every seed (a finding either way)."""
    stem, last = pull.layers[0], pull.layers[-1]
    specificity = pull.specificity(world)
    return claim(
        f"(b) {world}: the specificity is larger at {last} than at {stem}, every seed",
        specificity[:, -1] > specificity[:, 0],
        finding=True,
        converged=pull.finished(last) & pull.finished(stem),
        baseline=f"the specificity at {stem}, same world and seed",
        margin="0 (direction)",
        **{f"at {stem}": specificity[:, 0], f"at {last}": specificity[:, -1]},
    )


def imagenet_pulls_toward_photographs(
    natural: WorldPull, deep: Sequence[str] = ("stage5", "stage7"), contrast: str = "stem"
) -> Claim:
    """(d) The same pull in the ImageNet model: at each ``deep`` stage the judge's P(photos) of
    its reconstruction of each foreign target is at least 0.1 above its untrained twin's,
    every start, and not at ``contrast``. Checked as the paper states it: holding nowhere is a
    finding, but a test that holds at ``contrast`` too separates nothing and fails."""
    member_pull = natural.member_pull("photos")[0]  # (stages, starts, foreign targets)
    pulls = {layer: member_pull[i] >= 0.1 for i, layer in enumerate(natural.layers)}
    return claim(
        f"(d) ImageNet: at {' and at '.join(deep)} the judge's P(photos) of the ImageNet model's "
        "reconstruction of each foreign target is >= 0.1 above its untrained twin's, every start",
        [pulls[layer] for layer in deep],
        finding=True,
        contrast=contrast,
        contrast_test=pulls[contrast],
        converged=[natural.converged(layer) for layer in natural.layers],
        baseline="P(photos) of the twin's reconstruction, same target, stage and start",
        margin="0.1",
        **{f"pull at {layer}": member_pull[i] for i, layer in enumerate(natural.layers)},
    )


def first_layer_keeps_the_world(pull: WorldPull) -> Claim:
    """(c) The first layer keeps its target: over half its reconstructions keep the target's
    world, every model and seed."""
    kept = pull.kept()[:, :, 0]
    return claim(
        f"(c) at {pull.layers[0]} over half the reconstructions keep their target's world, every "
        "model and seed",
        kept > 0.5,
        baseline="the judge's verdict on the targets themselves",
        margin="half the reconstructions",
        kept=kept.flatten(),
    )


def structure_smooths_first_filters(roughness: Mapping[str, torch.Tensor]) -> Claim:
    """Training on a structured world (every world but noise) smooths the first-layer
    filters: roughness below :data:`SMOOTHER` of the untrained model's, every seed.

    Args:
        roughness: ``{kind: (seeds,) roughness}`` per world and :data:`~depthrep.studies.UNTRAINED`
            (:func:`~depthrep.studies.filter_roughness`).
    """
    structured = [w for w in roughness if w not in ("noise", UNTRAINED)]
    return claim(
        "training on a structured world smooths the first-layer filters: "
        f"roughness < {SMOOTHER:g} x untrained",
        [roughness[w] < SMOOTHER * roughness[UNTRAINED] for w in structured],
        baseline="the untrained model's first-layer filters, same seed",
        margin=f"{SMOOTHER:g}x",
        **{w: roughness[w] for w in structured},
        untrained=roughness[UNTRAINED],
    )


def noise_does_not_smooth_them(roughness: Mapping[str, torch.Tensor]) -> Claim:
    """The contrast of :func:`structure_smooths_first_filters`: training on noise leaves
    roughness at :data:`SMOOTHER` of the untrained model's or above."""
    return claim(
        f"noise training does not: roughness >= {SMOOTHER:g} x untrained",
        roughness["noise"] >= SMOOTHER * roughness[UNTRAINED],
        baseline="the untrained model's first-layer filters, same seed",
        margin=f"{SMOOTHER:g}x",
        ratio=roughness["noise"] / roughness[UNTRAINED],
    )
