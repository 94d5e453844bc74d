"""Chapter 05, *Width*: the claims of fully connected nets narrower and wider than the input.

Every net has the same depth and starts from the same noise image, so ``||a_0 - a||`` (the
untrained start's distance to the target) is one baseline for all; every claim holds per
image and seed.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import torch

from depthrep.book.report import Claim, claim
from depthrep.core.results import InversionResult, fall_per_decade, response_over_budgets


def start_distance(r: InversionResult) -> torch.Tensor:
    """``(B,)`` ``||a_0 - a||``: the start's distance to the target, per seed and image."""
    return r.history.input_distance[0]


def narrow_layer_loses_the_input(narrow: InversionResult, narrow_middle: InversionResult) -> Claim:
    """Exact non-invertibility: a layer narrower than the input (everywhere, or only in the
    middle) leaves the reconstruction far from the target (``m_i > 0.25 ||a_0 - a||``) while
    the embedding is matched (``m_g / |y| < 0.01``)."""
    a0_distance = start_distance(narrow)
    return claim(
        "a layer narrower than the input: m_i > 0.25 ||a_0 - a|| while m_g/|y| < 0.01",
        [
            (r.input_distance > 0.25 * a0_distance) & (r.relative_embedding_distance < 0.01)
            for r in (narrow, narrow_middle)
        ],
        baseline="the untrained start's m_i, ||a_0 - a||, same image and seed",
        margin="0.25x",
        m_i_narrow=narrow.input_distance,
        m_i_narrow_middle=narrow_middle.input_distance,
        m_g_rel=narrow.relative_embedding_distance,
        a0_distance=a0_distance,
    )


def wide_net_reconstructs(wide: InversionResult, narrow: InversionResult) -> Claim:
    """Every layer twice the input's width: the reconstruction is 100 times closer than the narrow net's."""
    return claim(
        "all layers 2n wide: m_i < 0.01 x the narrow net's",
        wide.input_distance < 0.01 * narrow.input_distance,
        baseline="the narrow (0.8n) net's m_i, same image and seed",
        margin="0.01x",
        m_i_wide=wide.input_distance,
    )


def narrow_pixels_do_not_follow(
    by_budget: Mapping[int, Mapping[str, InversionResult]], narrow: str = "0.8n", wider: str = "1.2n"
) -> Claim:
    """More iterations do not help the narrow net: over the last tenfold of budget its ``m_g``
    still falls more than 2x per decade, but its ``m_i`` follows ``m_g`` less than a quarter
    as much as the ``wider`` net's (``d log m_i / d log m_g``, separate runs per budget)."""
    budgets = list(by_budget)
    m_g_fall = fall_per_decade(by_budget, narrow, "embedding_distance", first=-2)
    response = {label: response_over_budgets(by_budget, label) for label in (narrow, wider)}
    return claim(
        f"iterations {budgets[-2]} -> {budgets[-1]}: the narrow net's m_g falls > 2x per decade, "
        f"but its m_i follows it < 0.25 x as much as the {wider} net's (d log m_i / d log m_g)",
        (m_g_fall > 2) & (response[narrow] < 0.25 * response[wider]),
        baseline=f"the {wider} net's response over the same budgets, same image and seed",
        margin="0.25x",
        narrow_m_g_fall_per_decade=m_g_fall,
        response_narrow=response[narrow],
        **{f"response_{wider.replace('.', '_')}": response[wider]},
    )


def relu_needs_width(relu: Sequence[InversionResult], narrow: InversionResult) -> Claim:
    """ReLU nets of 1n, 2n and 4n: ``m_i`` falls with width, and the 4n net reconstructs
    (``m_i`` below 0.01 of the narrow linear net's)."""
    one, two, four = relu
    return claim(
        "ReLU nets: m_i falls with width (1n > 2n > 4n) and the 4n net reconstructs (m_i < 0.01 "
        "x the narrow linear net's)",
        (one.input_distance > two.input_distance)
        & (two.input_distance > four.input_distance)
        & (four.input_distance < 0.01 * narrow.input_distance),
        baseline="the narrower ReLU nets' and the narrow linear net's m_i, same image and seed",
        margin="order; 0.01x",
        m_i_1n=one.input_distance,
        m_i_2n=two.input_distance,
        m_i_4n=four.input_distance,
    )


def relu_2n_is_not_enough(relu_2n: InversionResult, narrow: InversionResult) -> Claim:
    """Checked as a departure from the paper, which says a ReLU layer needs about twice its
    input's width: here the 2n ReLU net ends far from the target, more than a quarter of the
    start's distance ``||a_0 - a||`` (the same start for every net, read from ``narrow``'s run),
    as the narrow linear net does."""
    a0_distance = start_distance(narrow)
    return claim(
        "paper: a ReLU layer needs about 2x its input's width; here the 2n ReLU net ends far from the target "
        "(m_i > 0.25 ||a_0 - a||, as the narrow linear net)",
        relu_2n.input_distance > 0.25 * a0_distance,
        baseline="the untrained start's m_i, ||a_0 - a||, same image and seed",
        margin="0.25x",
        departs=True,
        m_i_2n_relu=relu_2n.input_distance,
        a0_distance=a0_distance,
    )


def wider_last_layers_help(late: Mapping[str, InversionResult]) -> Claim:
    """Widening the last layer(s) lowers ``m_i`` at a fixed budget, step by step along ``late``
    (in order of width)."""
    runs = list(late.values())
    return claim(
        "wider last layer(s): m_i falls at a fixed budget (1.2n > last 4n > last two 4n)",
        [(a.input_distance > b.input_distance) for a, b in itertools.pairwise(runs)],
        baseline="the 1.2n net's m_i at the same budget, same image and seed",
        margin="order",
        **{label: r.input_distance for label, r in late.items()},
    )
