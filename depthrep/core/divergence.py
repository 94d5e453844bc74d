"""Divergence: members of a run that blow up are caught one by one and frozen where it happened.

A member has diverged once its embedding distance ``m_g`` or its image is not finite, or,
after a grace period, ``m_g`` climbs above :data:`DIVERGENCE` times its value at step 0.
Its image is then kept as it was at that step while the other members go on.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import torch

from depthrep.errors import DivergenceError, DivergenceWarning

DIVERGENCE = 1.5
"""A member has diverged once its embedding distance is non-finite, or, after the first tenth
of the run (:data:`GRACE`), above this multiple of its value at step 0. Healthy runs end far
below their start, though the first large steps can overshoot it briefly (measured: up to
1.24 times at step 1 for a trained ResNet18's deep layers); the paper's plain step at deep
ResNet layers on small images climbs 2 to 20 times above it and stays there."""
GRACE = 0.1
"""Fraction of the run during which a finite overshoot is not yet called divergence."""


class Watch:
    """Divergence bookkeeping for the ``members`` of one run.

    Args:
        members: batch size of the run.
        layer_of: the layer name of each member (for the error message).
        strict: raise :class:`DivergenceError` at the first diverged member.
        grace: steps during which a finite overshoot is not divergence.
    """

    def __init__(self, members: int, layer_of: Sequence[str], strict: bool, grace: int):
        self.start: torch.Tensor | None = None
        self.diverged_at = torch.full((members,), -1, dtype=torch.long)
        self.layer_of, self.strict, self.grace = layer_of, strict, grace

    def check(self, step: int, m_g: torch.Tensor, finite: torch.Tensor) -> torch.Tensor:
        """Mark the members that diverge at ``step``; returns them as a ``(M,)`` bool mask.

        Args:
            m_g: ``(M,)`` embedding distances at ``step`` (CPU).
            finite: ``(M,)`` bool, whether each member's image is finite.
        """
        if self.start is None:
            self.start = m_g.clone()
        grown = (m_g > DIVERGENCE * self.start) if step >= self.grace else torch.zeros_like(finite)
        new = (~torch.isfinite(m_g) | grown | ~finite) & (self.diverged_at < 0)
        if new.any():
            self.diverged_at[new] = step
            if self.strict:
                member = int(new.nonzero()[0])
                raise DivergenceError(
                    f"Inversion diverged at {self.layer_of[member]}, step {step}: m_g rose from "
                    f"{float(self.start[member]):.4g} to {float(m_g[member]):.4g}. Lower the step size "
                    f"(the method's lr) or use method='adam'."
                )
        return new


def warn_divergence(diverged_at: Mapping[str, torch.Tensor], stacklevel: int = 3) -> None:
    """One :class:`DivergenceWarning` naming every diverged member (``{layer: (B,) steps}``, -1: none)."""
    parts = []
    for name, steps in diverged_at.items():
        members = (steps >= 0).nonzero().flatten().tolist()
        if members:
            at = ", ".join(str(int(steps[b])) for b in members)
            parts.append(f"{name} (image {', '.join(map(str, members))} at step {at})")
    if parts:
        warnings.warn(
            f"Inversion diverged at {'; '.join(parts)}: those results are frozen where it happened and "
            f"marked in InversionResult.diverged_at. Lower the step size (the method's lr) or use "
            f"method='adam'; strict=True raises instead.",
            DivergenceWarning,
            stacklevel=stacklevel + 1,
        )
