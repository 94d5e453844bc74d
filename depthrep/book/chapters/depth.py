"""Chapter 03, *Depth*: the claims of the untrained ResNets, layer by layer.

``by_layer`` is one model's ``{layer: InversionResult}`` in order of depth
(:func:`~depthrep.invert_over_seeds`); every claim holds per image and seed.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from depthrep.book.report import Claim, claim, converged
from depthrep.core.results import InversionResult

POOLED = "conv1"
"""The paper's Conv1, after max-pooling: what max-pooling alone loses is not depth."""


def farther_with_depth_at_most_one_step_back(
    by_layer: Mapping[str, InversionResult], deep: str, *, who: str
) -> Claim:
    """The paper's first finding in an untrained ResNet: ``m_i(deep) > 2 m_i(conv1)``, and
    ``m_i`` grows along the layers with at most one step back. Both runs must have converged."""
    m_i = torch.stack([res.input_distance for res in by_layer.values()])  # (layers, members)
    steps_back = (m_i[1:] < m_i[:-1]).sum(0)
    pooled = by_layer[POOLED]
    return claim(
        f"{who}: m_i({deep}) > 2 m_i(conv1), and m_i grows with depth with at most one step back",
        (by_layer[deep].input_distance > 2 * pooled.input_distance) & (steps_back <= 1),
        converged=converged(by_layer[deep], pooled),
        baseline="m_i at conv1 (after max-pooling), same image and seed",
        margin="2x",
        m_i_conv1=pooled.input_distance,
        m_i_deep=by_layer[deep].input_distance,
        steps_back=steps_back,
    )


def matched_in_the_layer_lost_in_pixels(early: InversionResult, deep: InversionResult, *, who: str) -> Claim:
    """Non-uniqueness as the distance ratios show it: at ``deep`` the reconstruction matches the
    embedding as well as the shifted copy ``a'`` (``m_g < m_r``) while ``m_i / ||a' - a||`` is at
    least twice that at ``early`` (where ``m_g < m_r`` holds too: both runs converged)."""
    return claim(
        f"{who} {deep.layer}: m_g < m_r while m_i / ||a' - a|| >= 2x {early.layer}'s (the layer matches as "
        f"well as a', the pixels are lost), with m_g < m_r at {early.layer} too",
        (deep.reference_ratio < 1) & (deep.shift_ratio >= 2 * early.shift_ratio),
        converged=converged(deep, early),
        baseline=f"m_i / ||a' - a|| at {early.layer} of the same run, image and seed",
        margin="2x",
        m_g_over_m_r=deep.reference_ratio,
        m_i_over_shift=deep.shift_ratio,
        **{f"m_i_over_shift_{early.layer}": early.shift_ratio},
    )


def paper_update_finds_shift_closer(paper: InversionResult, *, who: str) -> Claim:
    """With the paper's update an early layer ends with ``m_g > m_r``: ``a'`` is the better match."""
    return claim(
        f"paper's update, {who} {paper.layer}: m_g > m_r (early layers: a' is the better match)",
        paper.reference_ratio > 1,
        baseline="m_r of the same image",
        margin="1x",
        m_g_over_m_r=paper.reference_ratio,
    )


def default_update_gets_below_reference(default: InversionResult, *, who: str) -> Claim:
    """With the default update the same early layer gets ``m_g < m_r`` (a departure: the paper's
    early-layer ``m_g > m_r`` belongs to its optimiser)."""
    return claim(
        f"default update, {who} {default.layer}: m_g < m_r already (the paper's early-layer m_g "
        "> m_r is the optimiser's)",
        default.reference_ratio < 1,
        baseline="m_r of the same image",
        margin="1x",
        departs=True,
        m_g_over_m_r=default.reference_ratio,
    )


def exactly_non_invertible_at_299(sizes: Mapping, deep: str, early: str = "conv2") -> Claim:
    """At the paper's 299 px every model's ``deep`` layer holds fewer values than the input
    (exact non-invertibility, a count), its ``early`` one more.

    Args:
        sizes: ``{model: {side: {layer: LayerSize}}}`` (:func:`~depthrep.studies.layer_sizes`),
            with side 299.
    """
    return claim(
        f"at 299 px every model's {deep} holds fewer values than the input (exactly "
        f"non-invertible), {early} more",
        [by[299][deep].ratio < 1 < by[299][early].ratio for by in sizes.values()],
        baseline="the input's 3 x 299 x 299 values",
        margin="1x (a count)",
        **{f"{name} {deep}": by[299][deep].ratio for name, by in sizes.items()},
    )


def lite0_narrows_earlier_than_resnet50(at_224: Mapping, depth_of: Mapping) -> Claim:
    """EfficientNet-Lite0 holds fewer values than its 224 px input from stage2 on (stem and
    stage1 more), which comes earlier in relative depth than ResNet50's first such stage.

    Args:
        at_224: ``{model: {layer: LayerSize}}`` at 224 px, for ``efficientnet_lite0`` and
            ``resnet50``, layers in order of depth.
        depth_of: ``{model: {layer: relative depth}}`` (:func:`~depthrep.relative_depth`).
    """
    first_smaller = {
        name: min(depth_of[name][layer] for layer, s in by_layer.items() if s.ratio < 1)
        for name, by_layer in at_224.items()
    }  # relative depth of the first stage below the input
    lite = at_224["efficientnet_lite0"]
    return claim(
        "at 224 px efficientnet_lite0 holds fewer values than the input from stage2 on (stem, stage1 more), "
        "so its first such stage comes earlier in depth than ResNet50's",
        [
            all((s.ratio < 1) == (i >= 2) for i, s in enumerate(lite.values())),
            first_smaller["efficientnet_lite0"] < first_smaller["resnet50"],
        ],
        baseline="the input's 3 x 224 x 224 values; ResNet50's first stage below them",
        margin="1x (a count)",
        **{f"lite0 {layer}": s.ratio for layer, s in lite.items()},
        depth_first_smaller_lite0=first_smaller["efficientnet_lite0"],
        depth_first_smaller_resnet50=first_smaller["resnet50"],
    )


def gains_spread_with_depth(gains: Mapping, stem: str, deep: str, *, who: str) -> Claim:
    """Approximate non-invertibility grows with depth: the ratio of the layer's largest local
    gain to its median gain along random directions is higher at ``deep`` than at ``stem``.

    Args:
        gains: one model's ``{layer: Gains}`` (:func:`~depthrep.studies.gains_over_seeds`).
    """
    top, first = gains[deep], gains[stem]
    return claim(
        f"{who}: with depth the layer's gains spread: largest / median random gain higher at "
        f"{deep} than at {stem}",
        top.largest / top.typical > first.largest / first.typical,
        baseline=f"the same spread at {stem}, same image and seed",
        margin="1x (direction)",
        stem=first.largest / first.typical,
        deep=top.largest / top.typical,
    )


def error_not_among_most_contracted(gains: Mapping, stem: str, deep: str, *, who: str) -> Claim:
    """Checked as a departure: at ``deep`` the reconstruction's error direction is not among the
    most contracted ones (its gain is at least half the median random gain)."""
    top, first = gains[deep], gains[stem]
    return claim(
        f"{who} {deep}: the error direction is not among the most contracted: its gain >= 0.5 x "
        "the median random gain",
        top.error_ratio >= 0.5,
        baseline=f"the median gain along random directions at {deep}",
        margin="0.5x",
        departs=True,
        error_ratio_stem=first.error_ratio,
        error_ratio_deep=top.error_ratio,
    )


def deeper_model_shows_it_more(
    results: Mapping[str, Mapping[str, InversionResult]], deep: str, early: str = "conv2"
) -> list[Claim]:
    """The paper: "deeper models (ResNet152) show it more strongly". ResNet152's
    ``m_i / ||a' - a||`` over ResNet50's is above 1 at ``deep`` and larger than at ``early``,
    every run converged. Checked as the paper states it (a finding); no claim (``[]``) where
    the profile runs only one of the two models."""
    if not {"resnet50", "resnet152"} <= results.keys():
        return []
    over = {
        layer: results["resnet152"][layer].shift_ratio / results["resnet50"][layer].shift_ratio
        for layer in (early, deep)
    }  # ResNet152's m_i / ||a' - a|| over ResNet50's
    return [
        claim(
            f"resnet152 shows it more strongly at {deep}: its m_i / ||a' - a|| over resnet50's is > 1 there "
            f"and larger than at {early}, m_g < m_r at both layers in both models",
            (over[deep] > 1) & (over[deep] > over[early]),
            finding=True,
            converged=converged(
                *(results[m][layer] for m in ("resnet50", "resnet152") for layer in (early, deep))
            ),
            baseline=f"the same ratio at {early}, same image and seed",
            margin="1x (direction)",
            **{f"resnet152 / resnet50 at {layer}": ratio for layer, ratio in over.items()},
        )
    ]
