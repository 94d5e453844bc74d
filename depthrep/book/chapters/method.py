"""Chapter 01, *The method*: the update the book inverts with against the paper's plain step.

``default`` and ``paper`` are ``{layer: InversionResult}`` from the same starts, targets and
layers, inverted with the default update and with the paper's; every claim holds per image
and seed.
"""

from __future__ import annotations

from collections.abc import Mapping

from depthrep.book.report import Claim, claim, converged
from depthrep.core.results import InversionResult


def default_gets_below_reference(default: Mapping[str, InversionResult]) -> Claim:
    """The default update reaches ``m_g < m_r`` (closer in the layer than the shifted copy
    ``a'``) at every layer: the book's inversions finish."""
    return claim(
        f"default update: m_g < m_r at {', '.join(default)} for every seed and image",
        [(r.embedding_distance < r.reference_distance).all() for r in default.values()],
        baseline="m_r, the shifted copy a' of the same image",
        margin="1x",
        **{f"m_g/m_r {name}": r.reference_ratio for name, r in default.items()},
    )


def default_beats_the_paper_update(default: InversionResult, paper: InversionResult) -> Claim:
    """At a deep layer the default update ends with a lower ``m_g`` than the paper's plain
    step from the same start. A diverged paper run decides nothing."""
    layer = default.layer
    return claim(
        f"at {layer} the default ends with a lower m_g than the paper's plain step, every seed and image",
        default.embedding_distance < paper.embedding_distance,
        converged=[converged(default), ~paper.diverged],
        baseline="the paper's update from the same start",
        margin="1x",
        m_g_default=default.embedding_distance,
        m_g_paper=paper.embedding_distance,
        m_g_paper_at_start=paper.history.embedding_distance[0],
    )
