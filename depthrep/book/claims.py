"""The claims the chapters check again and again, as named builders.

Each builder returns a :class:`~depthrep.book.report.Claim` from the results it compares, with
its statement, baseline, margin, guard and numbers written once: a chapter's claim cell names
what it checks (``farther_with_depth(first, last, 10)``) instead of spelling out the test. Each
takes the early layer before the deep one, and ``who`` as a bare name (``"resnet50"``). The
rules every claim follows (written before the numbers, a contrast that must fail, no verdict on
a run that did not converge where the claim rests on a finished run) are in the book's appendix,
*How the checks were set* (``book/checks.md``).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from depthrep.book.report import Claim, claim, converged
from depthrep.core.results import InversionResult, fall_per_decade


def _named(who: str, separator: str = ": ") -> str:
    return f"{who}{separator}" if who else ""


def farther_with_depth(
    early: InversionResult, deep: InversionResult, factor: float, *, who: str = ""
) -> Claim:
    """The paper's first finding at one pair of layers: the reconstruction from ``deep`` is
    more than ``factor`` times farther from the target than the one from ``early``
    (``m_i(deep) > factor m_i(early)``), on every member. Both runs must have converged.

    Args:
        early, deep: results of the same members (targets and seeds) at two layers.
        who: what the runs are (``"resnet50"``), the start of the statement.
    """
    if early.layer == deep.layer:
        raise ValueError(f"farther_with_depth: two runs at {deep.layer}; pass an early layer and a deep one")
    return claim(
        f"{_named(who)}m_i at {deep.layer} > {factor:g}x m_i at {early.layer}",
        deep.input_distance > factor * early.input_distance,
        converged=converged(early, deep),
        baseline=f"m_i at {early.layer}, same target and start",
        margin=f"{factor:g}x",
        **{f"m_i {early.layer}": early.input_distance, f"m_i {deep.layer}": deep.input_distance},
    )


def non_uniqueness(
    early: InversionResult, deep: InversionResult, *, slack: float = 1.0, who: str = ""
) -> Claim:
    """The paper's inequality of non-uniqueness at ``deep``: the layer sees the reconstruction
    as (about) as close as the shifted copy ``a'`` (``m_g < slack m_r``) while it is farther
    than ``a'`` from the target in pixels (``m_i > ||a' - a||``). It must fail at ``early``
    (the contrast), where the reconstruction is the closer one. A diverged run is frozen far
    above ``m_r``, so it cannot make the inequality hold.
    """

    def inequality(r: InversionResult) -> torch.Tensor:
        return (r.reference_ratio < slack) & (r.shift_ratio > 1)

    bound, matched = (
        ("m_r", "closer than a'") if slack == 1 else (f"{slack:g} m_r", "matched about as well as a'")
    )
    return claim(
        f"{_named(who, ' ')}{deep.layer}: m_g < {bound} while m_i > ||a' - a|| "
        f"({matched} in the layer, farther in pixels)",
        inequality(deep),
        baseline="the shifted copy a' of the same image (m_r and ||a' - a||)",
        margin=f"{slack:g}x; 1x",
        contrast=early.layer,
        contrast_test=inequality(early),
        m_g_over_m_r=deep.reference_ratio,
        m_i_over_shift=deep.shift_ratio,
        **{f"m_i_over_shift {early.layer}": early.shift_ratio},
    )


def still_falls(
    budgets: Mapping[int, Mapping[str, InversionResult]],
    layer: str,
    factor: float,
    *,
    field: str = "input_distance",
    who: str = "",
) -> Claim:
    """Over the last tenfold of budget (separate runs, :func:`~depthrep.fall_per_decade`), the
    distance ``field`` at ``layer`` still falls by more than ``factor`` per decade: the run had
    not settled at the shorter budget."""
    fall = fall_per_decade(budgets, layer, field, first=-2)
    symbol = {"input_distance": "m_i", "embedding_distance": "m_g"}.get(field, field)
    return claim(
        f"{_named(who, ' ')}{layer}: {symbol} still falls over the last decade of budget (> {factor:g}x)",
        fall > factor,
        baseline=f"{symbol} of the run a decade shorter, same target and start",
        margin=f"{factor:g}x per decade",
        **{f"{symbol}_fall": fall},
    )


def grows_with_depth(results: Mapping[str, InversionResult], *, what: str, baseline: str) -> Claim:
    """``m_i`` rises at every step along ``results`` (in order of depth: layers, or nets of
    growing depth), on every member.

    Args:
        what: the statement, which names the runs (``"fixed budget: m_i grows with depth ..."``).
        baseline: what each step is compared with (``"the net one step shallower"``).
    """
    if len(results) < 2:
        raise ValueError(f"grows_with_depth: {len(results)} run(s); an order needs two at least")
    m_i = torch.stack([r.input_distance for r in results.values()])  # (steps, members)
    return claim(
        what,
        (m_i[1:] > m_i[:-1]).all(0),
        baseline=baseline,
        margin="order",
        **{f"m_i {name}": r.input_distance for name, r in results.items()},
    )
