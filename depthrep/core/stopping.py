"""Early stopping: a member whose embedding distance has stopped falling leaves the batch.

The paper's experiments run a fixed number of steps; where a figure only needs each
reconstruction to have converged, :class:`Stop` lets a member stop paying for steps that
no longer change it. A stopped member's image is kept as it was at its stopping step and
the run's later steps skip it, so they cost less; ``InversionResult.stopped_at`` records
the step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from depthrep.errors import StopError


@dataclass(frozen=True)
class Stop:
    """When a member has converged.

    A member stops at step ``s`` once ``s >= window`` and its ``m_g`` has fallen by less than
    the fraction ``tol`` over the last ``window`` steps, or, with ``ratio`` set, once
    ``m_g / m_r <= ratio`` (the layer sees it as closer to the target than ``a'`` by that
    factor).

    >>> Stop(tol=0.01, window=20).converged(torch.tensor([1.0, 1.0]), torch.tensor([0.5, 0.995]),
    ...                                    torch.ones(2))
    tensor([False,  True])
    """

    tol: float = 0.005
    """Smallest relative fall of ``m_g`` over ``window`` steps that keeps a member running."""
    window: int = 20
    """Steps over which the fall is measured; no member stops before this step."""
    ratio: float | None = None
    """Stop once ``m_g / m_r`` is at most this (``None``: only the fall counts)."""

    def __post_init__(self):
        if not 0 <= self.tol < 1:
            raise StopError(f"Stop's tol is a fraction in [0, 1), not {self.tol!r}")
        if isinstance(self.window, bool) or not isinstance(self.window, int) or self.window < 1:
            raise StopError(f"Stop's window is a positive number of steps, not {self.window!r}")
        if self.ratio is not None and not self.ratio > 0:
            raise StopError(f"Stop's ratio is a positive m_g / m_r, not {self.ratio!r}")

    def converged(self, before: torch.Tensor, now: torch.Tensor, m_r: torch.Tensor) -> torch.Tensor:
        """``(M,)`` bool: members whose ``m_g`` went from ``before`` (``window`` steps ago; NaN
        when the run is younger) to ``now`` too slowly, or reached ``ratio`` of ``m_r``."""
        slow = now > (1 - self.tol) * before  # False where ``before`` is NaN
        if self.ratio is not None:
            slow |= now <= self.ratio * m_r
        return slow


def get_stop(stop: bool | Stop | None) -> Stop | None:
    """``invert``'s ``stop`` argument as a rule: ``True`` is :class:`Stop`'s defaults."""
    if stop is None or stop is False:
        return None
    if stop is True:
        return Stop()
    if isinstance(stop, Stop):
        return stop
    raise StopError(f"stop must be True, False, None or a depthrep.Stop, not {stop!r}")
