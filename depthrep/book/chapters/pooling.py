"""Chapter 07, *Pooling*: what ResNet's max-pooling loses, against the ReLU just before it.

``bn1``, ``conv1_prepool`` and ``conv1`` are the layers before the ReLU, before the
max-pooling and after it (:func:`~depthrep.layers`); every claim holds per image and seed.
"""

from __future__ import annotations

from collections.abc import Sequence

from depthrep.book.report import Claim, claim
from depthrep.core.results import InversionResult


def trained_pooling_costs_little(before: InversionResult, after: InversionResult) -> Claim:
    """Checked as a departure, in the trained model: ``m_i`` after max-pooling is above ``m_i``
    before it, but by less than 2x."""
    return claim(
        "trained: m_i after max-pooling > m_i before, but by less than 2x",
        (after.input_distance > before.input_distance) & (after.input_distance < 2 * before.input_distance),
        departs=True,
        baseline=f"m_i at {before.layer}, same model, target and start",
        margin="1x; below 2x",
        m_i_prepool=before.input_distance,
        m_i_pooled=after.input_distance,
    )


def reconstructs_before_pooling(before: Sequence[InversionResult]) -> Claim:
    """Before the pooling (``bn1``, ``conv1_prepool``) the reconstruction is closer to the target
    than the shifted copy ``a'``: nothing is lost yet."""
    names = [r.layer for r in before]
    return claim(
        f"before pooling ({', '.join(names)}): m_i < ||a' - a||",
        [(r.input_distance < r.shift_distance) for r in before],
        baseline="||a' - a|| of the same image",
        margin="1x",
        **{f"m_i_{r.layer}": r.input_distance for r in before},
        shift=before[-1].shift_distance,
    )


def pooling_loses_what_relu_keeps(
    bn1: InversionResult, before: InversionResult, after: InversionResult
) -> Claim:
    """Max-pooling is exactly non-invertible: ``m_i`` after it is more than 5 times ``m_i``
    before it, while the ReLU step before (``before`` against ``bn1``) is not (the contrast)."""
    return claim(
        "after max-pooling: m_i > 5x m_i before pooling",
        after.input_distance > 5 * before.input_distance,
        baseline=f"m_i at {before.layer}, same image and seed",
        margin="5x",
        contrast=f"the ReLU step ({before.layer} against {bn1.layer})",
        contrast_test=before.input_distance > 5 * bn1.input_distance,
        ratio=after.input_distance / before.input_distance,
        relu_ratio=before.input_distance / bn1.input_distance,
        m_i_pooled_over_shift=after.shift_ratio,
    )
