"""What an inversion returns: per layer, the reconstructions, distances and their history.

Every batch member is labelled: :func:`depthrep.invert` records which target of its batch
each member reconstructs and from which seed; :func:`concat_results` adds labels of its own
(``model=...``). Pick members by label (``result.select(seed=0)``) and average within a label
(``result.mean_per("target", "input_distance")``), instead of counting positions in the batch.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch

from depthrep.core.labels import Labelled, join, pick
from depthrep.core.scores import psnr_from_distance, ssim


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

    def input_fall(self, after: float = 0.5) -> torch.Tensor:
        """``(B,)``: factor by which ``m_i`` fell from fraction ``after`` of the run to its end."""
        return self.input_distance[self._index(after)] / self.input_distance[-1]

    def embedding_left(self) -> torch.Tensor:
        """``(B,)``: the share of the starting embedding mismatch left at the end, ``m_g(end) / m_g(0)``."""
        return self.embedding_distance[-1] / self.embedding_distance[0]

    def select(self, members: Sequence[int] | slice) -> History:
        """The history of some batch members only: ``(T, B')`` for ``B'`` members."""
        return History(self.step, self.input_distance[:, members], self.embedding_distance[:, members])

    def _index(self, fraction: float) -> int:
        return int(torch.searchsorted(self.step, fraction * self.step[-1]))


@dataclass(frozen=True)
class InversionResult(Labelled):
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
    flat_distance: torch.Tensor
    """``(B,)``: how far a flat image of the target's mean colour is from the target
    (:func:`depthrep.core.distances.flat_distance`): the ``m_i`` of no information."""
    target_norm: torch.Tensor
    """``(B,)``: ``||O(a)||``, the scale of the layer's embedding."""
    history: History
    steps: int
    """Steps run: fewer than asked when a callback stopped the run or every member stopped or
    diverged; with coarse to fine (``Method.scales``), the last scale's (its history too)."""
    diverged_at: torch.Tensor
    """``(B,)``: the step at which each member diverged (its image is frozen there), -1 if never."""
    stopped_at: torch.Tensor
    """``(B,)``: the step at which each member converged and left the batch (``invert``'s ``stop``;
    its image is kept from there), -1 if it ran every step."""
    labels: Mapping[str, tuple] = dataclasses.field(default_factory=dict)
    """What each member is: per label, one value per member. :func:`depthrep.invert` gives
    ``"target"`` (the index of the member's image in its batch) and ``"seed"``;
    :func:`concat_results` adds its own, such as ``"model"``."""

    @property
    def diverged(self) -> torch.Tensor:
        """``(B,)`` bool: members whose run diverged (see :data:`depthrep.core.divergence.DIVERGENCE`)."""
        return self.diverged_at >= 0

    @property
    def converged(self) -> torch.Tensor:
        """``(B,)`` bool: members whose run ended with ``m_g < m_r`` and did not diverge: the
        optimisation finished, so what it found can be read as evidence."""
        return (self.embedding_distance < self.reference_distance) & ~self.diverged

    @property
    def stopped(self) -> torch.Tensor:
        """``(B,)`` bool: members that converged before the last step (:class:`depthrep.Stop`)."""
        return self.stopped_at >= 0

    def select(self, members: Sequence[int] | slice | None = None, /, **labels) -> InversionResult:
        """Some batch members only: every ``(B, ...)`` tensor becomes ``(B', ...)``.

        Pick them by label (``select(seed=0)``, ``select(model="resnet18", target=1)``: the
        members whose labels equal all of these) or by position (``select([0, 3])``,
        ``select(slice(0, 2))``).

        Raises:
            LabelError: a label no member carries, or a value none has; the message lists them.
        """
        if members is None:
            members = self._positions(**labels) if labels else slice(None)
        elif labels:
            raise TypeError("select takes members or labels, not both")
        index = members if isinstance(members, slice) else list(members)
        per_member = {name: getattr(self, name)[index] for name in PER_MEMBER}
        return dataclasses.replace(
            self, **per_member, history=self.history.select(index), labels=pick(self.labels, index)
        )

    @property
    def psnr(self) -> torch.Tensor:
        """``(B,)``: peak signal-to-noise ratio of the reconstruction, in dB (from ``m_i``;
        :mod:`depthrep.core.scores`)."""
        return psnr_from_distance(self.input_distance, self.image[0].numel())

    def summary(self, member: int = 0, target: torch.Tensor | None = None) -> dict[str, float | int | None]:
        """One member's numbers, ready for JSON, CSV and tables: the paper's distances, their
        ratios, PSNR, SSIM against ``target`` ``(1, 3, H, W)`` when given, and the steps the run
        diverged or stopped at. A ratio whose denominator is zero, and any value that is not finite, is
        ``None`` (JSON has no NaN)."""
        m_i, m_g, m_r, shift, flat, norm = (float(getattr(self, name)[member]) for name in DISTANCES)
        image = self.image[member : member + 1].clamp(0, 1)
        score = None if target is None else float(ssim(image, target)[0])
        diverged, stopped = int(self.diverged_at[member]), int(self.stopped_at[member])
        numbers = {
            "m_i": m_i, "m_g": m_g, "m_r": m_r, "shift_distance": shift, "flat_distance": flat,
            "target_norm": norm, "m_g_over_m_r": _ratio(m_g, m_r), "m_i_over_shift": _ratio(m_i, shift),
            "m_i_over_flat": _ratio(m_i, flat),
            "relative_m_g": _ratio(m_g, norm), "relative_m_r": _ratio(m_r, norm),
            "psnr": float(self.psnr[member]), "ssim": score,
            "diverged_at": diverged if diverged >= 0 else None,
            "stopped_at": stopped if stopped >= 0 else None,
        }  # fmt: skip
        return {k: v if v is None or math.isfinite(v) else None for k, v in numbers.items()}

    def targets_of(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)``: each member's target, picked from the run's ``images`` (the batch
        :func:`depthrep.invert` was given) by the member's ``target`` label."""
        return images[list(self._label("target"))].to(self.image.device, self.image.dtype)

    @property
    def reference_ratio(self) -> torch.Tensor:
        """``(B,)``: ``m_g / m_r``; below 1 the layer sees the reconstruction as closer to the
        target than the shifted copy ``a'``."""
        return self.embedding_distance / self.reference_distance

    @property
    def shift_ratio(self) -> torch.Tensor:
        """``(B,)``: ``m_i / ||a' - a||``; above 1 the reconstruction is farther from the target
        in pixels than ``a'``. Non-uniqueness is both ratios at once: this far above 1 while
        :attr:`reference_ratio` is below 1."""
        return self.input_distance / self.shift_distance

    @property
    def flat_ratio(self) -> torch.Tensor:
        """``(B,)``: ``m_i`` over the flat mean-colour image's distance from the target; above 1
        the reconstruction is farther from the target, in pixels, than no information."""
        return self.input_distance / self.flat_distance

    @property
    def relative_reference_distance(self) -> torch.Tensor:
        """``(B,)``: ``m_r / ||O(a)||``, the yardstick for :attr:`relative_embedding_distance`."""
        return self.reference_distance / self.target_norm

    @property
    def relative_embedding_distance(self) -> torch.Tensor:
        """``(B,)``: ``m_g / ||O(a)||``, comparable across layers and models."""
        return self.embedding_distance / self.target_norm


Results = Mapping[str, InversionResult]
"""``{layer: InversionResult}``, as :func:`depthrep.invert` returns it."""


DISTANCES = (
    "input_distance", "embedding_distance", "reference_distance", "shift_distance", "flat_distance",
    "target_norm",
)  # fmt: skip
"""The distances of :class:`InversionResult`: ``m_i``, ``m_g``, ``m_r``, ``||a' - a||``, the flat
image's ``m_i`` and ``||O(a)||``."""


def _ratio(a: float, b: float) -> float | None:
    return a / b if b > 0 and math.isfinite(a) and math.isfinite(b) else None


PER_MEMBER = tuple(
    f.name
    for f in dataclasses.fields(InversionResult)
    if f.name not in ("layer", "history", "steps", "labels")
)
"""Fields of :class:`InversionResult` with one entry per batch member (their first dimension)."""


def concat_results(
    runs: Iterable[dict[str, InversionResult]], **labels: Sequence
) -> dict[str, InversionResult]:
    """Join the results of several runs (seeds, images, models) along the batch dimension.

    All runs must cover the same layers with the same recorded steps, and carry the same
    labels. Each keyword adds a label with one value per run, given to all of that run's
    members: ``concat_results(runs, model=["resnet18", "resnet50"])``.

    Examples:
        The same target inverted through two untrained ResNet18s (initialised from seeds 0
        and 1), joined into one batch of two, labelled by the model's seed:

        >>> import depthrep
        >>> image = depthrep.load_image("grace_hopper", 32)
        >>> models = [depthrep.load_model("resnet18", seed=s) for s in (0, 1)]
        >>> runs = [depthrep.invert(m, image, "conv2", steps=5, progress=False) for m in models]
        >>> joined = depthrep.concat_results(runs, init=[0, 1])
        >>> list(joined), tuple(joined["conv2"].image.shape)
        (['conv2'], (2, 3, 32, 32))
        >>> joined["conv2"].labels
        {'target': (0, 0), 'seed': (0, 0), 'init': (0, 1)}
        >>> tuple(joined["conv2"].select(init=1).embedding_distance.shape)
        (1,)
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
            labels=join([p.labels for p in parts], [len(p.image) for p in parts], **labels),
        )
    return joined


def fall_per_decade(
    budgets: Mapping[int, Mapping[str, InversionResult]],
    layer: str,
    field: str = "input_distance",
    first: int = 0,
) -> torch.Tensor:
    """``(B,)``: the factor by which a distance falls per tenfold budget, from the ``first``-th
    budget of ``budgets`` (``{steps: {layer: InversionResult}}``, separate runs, in increasing
    steps) to the last; ``first=-2`` gives the last span."""
    steps = sorted(budgets)
    start, end = (getattr(budgets[steps[i]][layer], field) for i in (first, -1))
    return (start / end) ** (1 / math.log10(steps[-1] / steps[first]))


def response_over_budgets(
    budgets: Mapping[int, Mapping[str, InversionResult]], layer: str, first: int = -2
) -> torch.Tensor:
    """``(B,)``: how far ``m_i`` follows ``m_g`` from one budget to a larger one,
    ``d log m_i / d log m_g`` between separate runs (:meth:`History.input_response` within one
    run). Independent of how far apart the budgets are: near 1, a better embedding match is
    a proportionally better reconstruction; near 0, ``m_i`` stays while ``m_g`` falls."""
    input_fall = fall_per_decade(budgets, layer, "input_distance", first)
    return input_fall.log() / fall_per_decade(budgets, layer, "embedding_distance", first).log()
