"""Chapter 04, *Over the run*: how ``m_i`` and ``m_g`` move during one inversion (the paper's
Figure 4), from the run's history. "The 2nd half" is from the run's midpoint to its end;
every claim holds per image and seed, on converged runs.
"""

from __future__ import annotations

import torch

from depthrep.book.report import Claim, claim, converged
from depthrep.core.results import InversionResult


def _lagging(r: InversionResult) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Over the 2nd half of ``r``'s run, per member: whether ``m_g`` still falls while ``m_i``
    follows it less than half-proportionally; ``m_g``'s fall; and ``d log m_i / d log m_g``."""
    m_g_fall, slope = r.history.embedding_fall(), r.history.input_response()
    return (m_g_fall > 1) & (slope < 0.5), m_g_fall, slope


def deep_pixels_rise_while_the_layer_matches(deep: InversionResult, *, who: str) -> Claim:
    """The paper's Figure 4 as it states it: at a deep layer, over the 2nd half of the run,
    ``m_i`` rises while ``m_g`` falls (a finding either way)."""
    m_i_fall, m_g_fall = deep.history.input_fall(), deep.history.embedding_fall()
    return claim(
        f"{who} {deep.layer}, 2nd half of the run (the paper's Figure 4): m_i rises while m_g falls",
        (m_i_fall < 1) & (m_g_fall > 1),
        finding=True,
        converged=converged(deep),
        baseline="m_i and m_g at the run's midpoint",
        margin="1x (direction)",
        m_i_fall=m_i_fall,
        m_g_fall=m_g_fall,
    )


def deep_pixels_follow_less_than_half(early: InversionResult, deep: InversionResult, *, who: str) -> Claim:
    """The measured form of Figure 4: at ``deep``, over the 2nd half, ``m_g`` still falls while
    ``m_i`` follows it less than half-proportionally (``d log m_i / d log m_g < 0.5``).
    ``early``'s slope is shown beside it: this claim does not separate the layers,
    :func:`deep_follows_less_over_the_run` does."""
    lags, m_g_fall, slope = _lagging(deep)
    return claim(
        f"{who} {deep.layer}, 2nd half of the run: m_g still falls while m_i follows it less than "
        f"half-proportionally (so does {early.layer}'s, slope_{early.layer}: this one does not "
        "separate the layers, the next does)",
        lags,
        converged=converged(deep),
        baseline="m_i and m_g at the run's midpoint",
        margin="slope 0.5",
        m_g_fall=m_g_fall,
        slope=slope,
        **{f"slope_{early.layer}": early.history.input_response()},
    )


def deep_follows_less_over_the_run(early: InversionResult, deep: InversionResult, *, who: str) -> Claim:
    """Over the whole run, ``d log m_i / d log m_g`` is lower at ``deep`` than at ``early``:
    the deep layer's pixels follow its embedding less."""
    slope_deep, slope_early = deep.history.input_response(0.0), early.history.input_response(0.0)
    return claim(
        f"{who}, whole run: d log m_i / d log m_g is lower at {deep.layer} than at {early.layer}",
        slope_deep < slope_early,
        converged=converged(deep, early),
        baseline=f"the same slope at {early.layer}, same image and seed",
        margin="1x (direction; 0.5x failed on the smooth target)",
        **{f"slope_{deep.layer}": slope_deep, f"slope_{early.layer}": slope_early},
        ratio=slope_deep / slope_early,
    )


def shallow_pixels_level_off(shallow: InversionResult, *, who: str) -> Claim:
    """With the step falling, even an early layer of a deep model levels off: over the 2nd
    half ``m_i`` follows ``m_g`` less than half-proportionally while ``m_g`` still falls."""
    lags, m_g_fall, slope = _lagging(shallow)
    return claim(
        f"{who} {shallow.layer}, step falling: in the 2nd half m_i levels off, following m_g less than "
        "half-proportionally while m_g still falls (how far from zero depends on the target's texture: "
        "m_i_over_flat, not checked)",
        lags,
        converged=converged(shallow),
        baseline="m_i and m_g at the run's midpoint",
        margin="slope 0.5",
        m_g_fall=m_g_fall,
        slope=slope,
        m_i_over_flat=shallow.flat_ratio,
        m_i_over_shift=shallow.shift_ratio,
    )
