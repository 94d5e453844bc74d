"""Chapter 06, *Conditioning*: approximate non-invertibility in linear nets, where the exact
inverse exists.

The neighbourhood claims take ``exact``, one :class:`~depthrep.studies.Neighbourhood` per
experiment (a net and noise seed, and a target), and ``norms``, ``||a||`` per experiment
``(E,)``; they hold per experiment.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from depthrep.book.report import Claim, claim
from depthrep.core.results import InversionResult

MEASURES = (
    "error64",
    "error32",
    "sampled",
    "sampled_embedding",
    "shifted",
    "descent",
    "descent_embedding",
    "condition",
)
"""The :class:`~depthrep.studies.Neighbourhood` fields the claims read (their median where
sampled)."""


def per_experiment(exact: Mapping) -> dict[str, torch.Tensor]:
    """``{field: (E,) float32}``: each of :data:`MEASURES` per experiment (the median over its
    samples where it has several)."""
    return {
        key: torch.tensor([float(torch.as_tensor(getattr(e, key)).double().median()) for e in exact.values()])
        for key in MEASURES
    }


def longer_budget_helps(short: InversionResult, longer: InversionResult, *, layers: int) -> Claim:
    """Approximate, not exact, non-invertibility: ten times the iterations lowers the deep
    net's ``m_i`` at least 2.5x."""
    fall = short.input_distance / longer.input_distance
    return claim(
        f"{layers} layers: 10x the iterations lowers m_i at least 2.5x",
        fall >= 2.5,
        baseline="m_i of the same net at the 1x budget, same image and seed",
        margin="2.5x",
        m_i_fall=fall,
    )


def condition_grows_with_depth(kappa: torch.Tensor) -> Claim:
    """The composed map's condition number grows with every layer, and at 4 layers is more
    than 100 times one layer's.

    Args:
        kappa: ``(layers, seeds)`` condition numbers (:func:`~depthrep.studies.condition_numbers`).
    """
    return claim(
        "condition number grows with every layer, and 4 layers is > 100x one layer",
        (kappa[1:] > kappa[:-1]).all(0) & (kappa[3] > 100 * kappa[0]),
        baseline="the one-layer map's condition number, same seed",
        margin="order; 100x at 4 layers",
        kappa_1=kappa[0],
        kappa_4=kappa[3],
        kappa_8=kappa[-1],
    )


def float64_inverse_recovers(per: Mapping[str, torch.Tensor], norms: torch.Tensor) -> Claim:
    """The net is invertible: the float64 exact inverse recovers ``a`` (error below
    ``1e-4 ||a||``), and float32 is more than 1000 times worse."""
    return claim(
        "float64 exact inversion recovers a (error < 1e-4 ||a||); float32 is > 1000x worse",
        (per["error64"] < 1e-4 * norms) & (per["error32"] > 1000 * per["error64"]),
        baseline="||a|| of the same image; the float64 error",
        margin="1e-4x; 1000x",
        error64_rel=per["error64"] / norms,
        error32_rel=per["error32"] / norms,
    )


def inverse_loses_what_conditioning_says(per: Mapping[str, torch.Tensor], norms: torch.Tensor) -> Claim:
    """The exact inverse's error is the conditioning's bound ``kappa eps ||a||`` within
    0.01x to 2x, in both precisions."""
    eps = torch.tensor([torch.finfo(torch.float64).eps, torch.finfo(torch.float32).eps], dtype=torch.float64)
    loss = torch.stack([per["error64"], per["error32"]]) / (per["condition"] * eps[:, None] * norms)
    return claim(
        "exact inversion loses what the conditioning says: 0.01 < error / (kappa eps ||a||) < "
        "2, both precisions",
        ((loss > 0.01) & (loss < 2)).all(0),
        baseline="kappa eps ||a||, the conditioning's bound, same net and image",
        margin="0.01x to 2x",
        kappa=per["condition"],
        float64=loss[0],
        float32=loss[1],
    )


def preimages_far_descent_near(per: Mapping[str, torch.Tensor]) -> Claim:
    """Non-uniqueness near ``O(a)``: exact preimages ``a''`` of random points near the
    embedding lie (median) more than 100 ``||a' - a||`` from ``a``, and gradient descent's
    ``a_g`` is more than 100 times closer than that."""
    return claim(
        "median ||a'' - a|| > 100 ||a' - a||, and gradient descent's a_g is > 100x closer than that median",
        (per["sampled"] > 100 * per["shifted"]) & (per["sampled"] > 100 * per["descent"]),
        baseline="||a' - a|| and ||a_g - a|| of the same net and image",
        margin="100x",
        median_far=per["sampled"],
        shifted=per["shifted"],
        gd=per["descent"],
    )


def descent_farther_in_the_embedding(per: Mapping[str, torch.Tensor]) -> Claim:
    """Gradient descent trades the embedding for the pixels: ``a_g`` is farther than the
    median sampled preimage ``a''`` in the embedding."""
    return claim(
        "a_g is farther than the median sampled a'' in the embedding",
        per["descent_embedding"] > per["sampled_embedding"],
        baseline="the embedding distance of the sampled points (median), same net and image",
        margin="1x",
        gd_embedding=per["descent_embedding"],
        sample_embedding=per["sampled_embedding"],
    )
