"""Labelled batch members: what each member of a batched result is (its target, seed, model).

A result of many runs joined along the batch (:func:`depthrep.concat_results`) keeps, per
label, one value per member, so that members are picked and averaged by what they are
instead of by their position in the batch. No two members of a joined result carry the same
labels: a join that would make two alike asks for a label that tells the runs apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import torch

from depthrep._util.names import did_you_mean
from depthrep.errors import LabelError


class Labelled:
    """A result whose batch members carry :attr:`labels`: per label, one value per member."""

    labels: Mapping[str, tuple]

    def mean_per(self, label: str, values: str | torch.Tensor) -> torch.Tensor:
        """``(K, ...)``: the mean of ``values`` over the members with each value of ``label``, in
        the order :meth:`values_of` gives them: ``mean_per("target", "input_distance")`` is each
        target's ``m_i``, averaged over seeds (and models, when joined over models).

        Args:
            values: ``(B, ...)``, one entry per member (``result.history.embedding_left()``,
                say), or the name of such a field or property (``"reference_ratio"``).
        """
        values = getattr(self, values) if isinstance(values, str) else values
        members = self._label(label)
        if values.shape[:1] != (len(members),):
            raise ValueError(
                f"mean_per needs one value per member ({len(members)}), not shape {tuple(values.shape)}"
            )
        groups = [[i for i, v in enumerate(members) if v == u] for u in unique(members)]
        return torch.stack([values[group].mean(0) for group in groups])

    def values_of(self, label: str) -> tuple:
        """The values of ``label`` the members carry, each once, in the order they first appear."""
        return unique(self._label(label))

    def _positions(self, **labels) -> list[int]:
        """The positions of the members whose labels equal all of ``labels`` (at least one).

        Raises:
            LabelError: a label no member carries, a value none has, or a combination none has;
                the message lists what there is.
        """
        if not labels:
            raise TypeError("Name at least one label to pick members by")
        matches = None
        for label, value in labels.items():
            values = self._label(label)
            if value not in values:
                there = ", ".join(map(repr, unique(values)))
                raise LabelError(f"No member has {label}={value!r}: the values are {there}.")
            found = {i for i, v in enumerate(values) if v == value}
            matches = found if matches is None else matches & found
        if not matches:
            asked = ", ".join(f"{k}={v!r}" for k, v in labels.items())
            raise LabelError(f"No member has {asked} together: pick them one label at a time to see which.")
        return sorted(matches)

    def _label(self, label: str) -> tuple:
        if label not in self.labels:
            hint = did_you_mean(label, self.labels)
            there = ", ".join(self.labels) or "nothing"
            raise LabelError(f"No label {label!r}.{hint} The members are labelled {there}.")
        return self.labels[label]


def run_labels(images: int, seed: int) -> dict[str, tuple]:
    """The labels :func:`depthrep.invert` gives the members of one run: each image's index in
    its batch (``target``) and the run's ``seed``.

    >>> run_labels(2, seed=7)
    {'target': (0, 1), 'seed': (7, 7)}
    """
    return {"target": tuple(range(images)), "seed": (seed,) * images}


def join(parts: Sequence[Mapping[str, tuple]], sizes: Sequence[int], **added: Sequence) -> dict[str, tuple]:
    """The labels of runs joined along the batch: each run's own labels (all runs must carry the
    same), then each of ``added``, one value per run given to all of its ``sizes[k]`` members.

    >>> join([{"seed": (0, 1)}, {"seed": (0,)}], [2, 1], model=["a", "b"])
    {'seed': (0, 1, 0), 'model': ('a', 'a', 'b')}

    Raises:
        ValueError: the runs carry different labels, an added label is there already or has not
            one value per run, a value is no plain value (a number, a string), or two members
            would end up with the same labels.
    """
    known = set(parts[0])
    if any(set(p) != known for p in parts):
        raise ValueError(f"The runs carry different labels: {[sorted(p) for p in parts]}")
    if known & set(added):
        raise ValueError(f"The runs are already labelled {sorted(known & set(added))}")
    for label, values in added.items():
        if isinstance(values, str) or len(values) != len(parts):
            raise ValueError(f"{label}= needs one value per run ({len(parts)}), not {values!r}")
    own = {label: sum((p[label] for p in parts), ()) for label in parts[0]}
    labels = own | {
        label: sum(((_plain(label, v),) * n for v, n in zip(values, sizes, strict=True)), ())
        for label, values in added.items()
    }
    members = list(zip(*labels.values(), strict=True))
    if labels and len(set(members)) < len(members):
        twice = next(m for m in members if members.count(m) > 1)
        raise ValueError(
            f"Two members would carry the same labels {dict(zip(labels, twice, strict=True))}: add a label "
            "that tells the runs apart (concat_results(runs, model=[...]) or image=[...])."
        )
    return labels


def pick(labels: Mapping[str, tuple], index: Sequence[int] | slice) -> dict[str, tuple]:
    """The labels of the members at ``index``."""
    return {label: values[index] if isinstance(index, slice) else tuple(values[i] for i in index)
            for label, values in labels.items()}  # fmt: skip


def unique(values: Iterable) -> tuple:
    """``values`` without repeats, in the order they first appear.

    >>> unique([1, 0, 1, 2])
    (1, 0, 2)
    """
    return tuple(dict.fromkeys(values))


def _plain(label: str, value: object) -> object:
    """``value`` as a plain Python value: a one-number tensor or NumPy scalar becomes its number."""
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        value = value.item()
    try:
        hash(value)
    except TypeError:
        raise ValueError(f"{label}= takes plain values (numbers, strings), not {value!r}") from None
    return value
