"""What an inversion returns: per layer, the reconstructions, distances and their history."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class History:
    """Distances recorded during a run, before the update of each recorded step."""

    step: torch.Tensor
    """``(T,)`` step numbers; the last is the number of steps run (the final image)."""
    input_distance: torch.Tensor
    """``(T, B)``: ``m_i`` of each image at each recorded step."""
    embedding_distance: torch.Tensor
    """``(T, B)``: ``m_g`` of each image at each recorded step."""

    def input_response(self, after: float = 0.5) -> torch.Tensor:
        """``(B,)``: how far ``m_i`` follows ``m_g`` late in the run, ``d log m_i / d log m_g``.

        The ratio of the log-changes of the two distances between the record at fraction
        ``after`` of the run and the last one. Near 1, a better embedding match means a
        proportionally better reconstruction; near 0 (or negative), ``m_i`` has levelled
        off (or grows) while ``m_g`` keeps falling: the embedding no longer pins down the
        input.
        """
        first = self._index(after)
        log_i = self.input_distance[[first, -1]].log()
        log_g = self.embedding_distance[[first, -1]].log()
        return (log_i[1] - log_i[0]) / (log_g[1] - log_g[0])

    def embedding_fall(self, after: float = 0.5) -> torch.Tensor:
        """``(B,)``: factor by which ``m_g`` fell from fraction ``after`` of the run to its end."""
        return self.embedding_distance[self._index(after)] / self.embedding_distance[-1]

    def select(self, members: Sequence[int] | slice) -> History:
        """The history of some batch members only: ``(T, B')`` for ``B'`` members."""
        return History(self.step, self.input_distance[:, members], self.embedding_distance[:, members])

    def _index(self, fraction: float) -> int:
        return int(torch.searchsorted(self.step, fraction * self.step[-1]))


@dataclass(frozen=True)
class InversionResult:
    """The reconstruction of a batch of targets from one layer. Tensors are on the CPU."""

    layer: str
    image: torch.Tensor
    """``(B, 3, H, W)``: the reconstruction ``a_g``."""
    input_distance: torch.Tensor
    """``(B,)``: ``m_i = ||a_g - a||``."""
    embedding_distance: torch.Tensor
    """``(B,)``: ``m_g = ||O(a) - O(a_g)||``."""
    reference_distance: torch.Tensor
    """``(B,)``: ``m_r = ||O(a) - O(a')||``, the shifted-input reference."""
    shift_distance: torch.Tensor
    """``(B,)``: ``||a' - a||``, how far the shifted input is from the target."""
    target_norm: torch.Tensor
    """``(B,)``: ``||O(a)||``, the scale of the layer's embedding."""
    history: History
    steps: int
    """Steps run (fewer than asked when a callback stopped the run)."""
    diverged_at: torch.Tensor
    """``(B,)``: the step at which each member diverged (its image is frozen there), -1 if never."""

    @property
    def diverged(self) -> torch.Tensor:
        """``(B,)`` bool: members whose run diverged (see :data:`depthrep.invert.DIVERGENCE`)."""
        return self.diverged_at >= 0

    def select(self, members: Sequence[int] | slice) -> InversionResult:
        """The result of some batch members only, e.g. ``slice(0, 2)`` or ``[0, 3]``: every
        ``(B, ...)`` tensor becomes ``(B', ...)``."""
        index = members if isinstance(members, slice) else list(members)
        per_member = {name: getattr(self, name)[index] for name in PER_MEMBER}
        return dataclasses.replace(self, **per_member, history=self.history.select(index))

    @property
    def relative_reference_distance(self) -> torch.Tensor:
        """``(B,)``: ``m_r / ||O(a)||``, the yardstick for :attr:`relative_embedding_distance`."""
        return self.reference_distance / self.target_norm

    @property
    def relative_embedding_distance(self) -> torch.Tensor:
        """``(B,)``: ``m_g / ||O(a)||``, comparable across layers and models."""
        return self.embedding_distance / self.target_norm


PER_MEMBER = tuple(
    f.name for f in dataclasses.fields(InversionResult) if f.name not in ("layer", "history", "steps")
)
"""Fields of :class:`InversionResult` with one entry per batch member (their first dimension)."""


def concat_results(runs: Iterable[dict[str, InversionResult]]) -> dict[str, InversionResult]:
    """Join the results of several runs (seeds, images) along the batch dimension.

    All runs must cover the same layers with the same recorded steps.
    """
    runs = list(runs)
    if not runs:
        raise ValueError("concat_results needs at least one run")
    joined = {}
    for name in runs[0]:
        parts = [run[name] for run in runs]
        steps = parts[0].history.step
        if any(not torch.equal(p.history.step, steps) for p in parts):
            raise ValueError(f"Runs recorded different steps at {name}: use the same steps and record_every.")
        cat = {f: torch.cat([getattr(p, f) for p in parts]) for f in PER_MEMBER}
        joined[name] = InversionResult(
            layer=name,
            **cat,
            history=History(
                steps,
                torch.cat([p.history.input_distance for p in parts], dim=1),
                torch.cat([p.history.embedding_distance for p in parts], dim=1),
            ),
            steps=min(p.steps for p in parts),
        )
    return joined
