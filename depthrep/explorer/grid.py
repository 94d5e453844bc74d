"""Reconstructions of several models and weights at every layer: the data behind the layer picker.

Widget-free, so a script can build a grid and read it without ipywidgets;
:func:`depthrep.layer_picker` shows one in a notebook or the static book.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from depthrep.core.jobs import run_on
from depthrep.core.results import Results
from depthrep.zoo.layers import depth_order
from depthrep.zoo.layers import layers as default_layers

__all__ = ["LayerGrid", "Reconstructions", "Results", "layer_grid"]


@dataclass(frozen=True)
class Reconstructions:
    """One model with one set of weights, inverted at every layer of the grid."""

    model: str
    """Label of the model control, e.g. ``"resnet18"``."""
    weights: str
    """Label of the weights control, e.g. ``"untrained"``."""
    results: Results
    """``{layer: InversionResult}``, shallowest layer first; batch = the grid's images."""


@dataclass(frozen=True)
class LayerGrid:
    """Reconstructions of the same images at the same layers by several models and weights."""

    runs: tuple[Reconstructions, ...]
    images: torch.Tensor
    """``(B, 3, H, W)`` targets in ``[0, 1]``."""
    image_names: tuple[str, ...]
    layers: tuple[str, ...]
    """Shallowest first: the order of the layer control."""

    def __post_init__(self):
        if len(self.image_names) != len(self.images):
            raise ValueError(f"{len(self.images)} images but {len(self.image_names)} image names")
        labels = [*self.image_names, *self.layers, *(x for r in self.runs for x in (r.model, r.weights))]
        if any("|" in label for label in labels):
            raise ValueError(f"Labels cannot contain '|' (it separates the parts of a state's key): {labels}")
        seen = set()
        for run in self.runs:
            if (run.model, run.weights) in seen:
                raise ValueError(f"{run.model} with {run.weights} weights appears twice")
            seen.add((run.model, run.weights))
            if list(run.results) != list(self.layers):
                raise ValueError(
                    f"{run.model} ({run.weights}) has layers {list(run.results)}, "
                    f"the grid {list(self.layers)}: invert the same layers with every model."
                )
            batch = {len(r.image) for r in run.results.values()}
            if batch != {len(self.images)}:
                raise ValueError(
                    f"{run.model} ({run.weights}) has {sorted(batch)} reconstructions per layer for "
                    f"{len(self.images)} images: pass where= to LayerGrid.from_results to pick them."
                )

    @property
    def models(self) -> list[str]:
        """Model labels in the order they were given."""
        return list(dict.fromkeys(run.model for run in self.runs))

    def weights(self, model: str) -> list[str]:
        """Weights labels of ``model``, in the order they were given."""
        return [run.weights for run in self.runs if run.model == model]

    def results(self, model: str, weights: str) -> Results:
        """``{layer: InversionResult}`` of ``model`` with ``weights``."""
        for run in self.runs:
            if (run.model, run.weights) == (model, weights):
                return run.results
        choices = ", ".join(f"{r.model}/{r.weights}" for r in self.runs)
        raise KeyError(f"No {model} with {weights} weights in this grid; it has {choices}.")

    @classmethod
    def from_results(
        cls,
        results: Mapping[str, Mapping[str, Results]],
        images: torch.Tensor,
        image_names: Sequence[str] | None = None,
        *,
        where: Mapping[str, object] | None = None,
    ) -> LayerGrid:
        """A grid from inversions already run: ``{model: {weights: {layer: InversionResult}}}``.

        The layers keep the order of the first run's results, which is the control's order:
        give them shallowest first (:func:`depthrep.invert` returns them in the order asked).

        Args:
            images: ``(B, 3, H, W)``: the targets the results reconstruct.
            where: the labels of the batch members to show, one per image, e.g. ``{"seed": 0}``
                for the first start of results joined over starts
                (:meth:`InversionResult.select`). ``None``: the results have one member per image.
        """
        runs = []
        for model, by_weights in results.items():
            for weights, by_layer in by_weights.items():
                if where is not None:
                    by_layer = {name: r.select(**where) for name, r in by_layer.items()}
                runs.append(Reconstructions(model, weights, dict(by_layer)))
        names = tuple(image_names) if image_names is not None else _numbered(len(images))
        layers = tuple(runs[0].results) if runs else ()
        return cls(tuple(runs), images.detach().float().cpu(), names, layers)


def layer_grid(
    networks: Mapping[str, Mapping[str, nn.Module]],
    images: torch.Tensor,
    steps: int,
    *,
    layers: Sequence[str] | None = None,
    image_names: Sequence[str] | None = None,
    seed: int = 0,
    **invert_kwargs,
) -> LayerGrid:
    """Invert every layer for every image with each model and weights: one batched
    :func:`depthrep.invert` call per model and weights (a job, :func:`depthrep.core.jobs.run_on`),
    all from the same starting noise.

    Args:
        networks: ``{model label: {weights label: model}}``, e.g.
            ``{"resnet18": {"untrained": a, "trained": b}, "resnet50": {"untrained": c}}``.
            Only the combinations given appear in the picker's controls.
        images: ``(B, 3, H, W)`` targets in ``[0, 1]``.
        layers: layer names every model has; default: :func:`depthrep.layers` of the first
            model. Sorted shallowest first.
        image_names: labels of the image control; default ``image 1``, ``image 2``, ...
        seed: the starting noise and the shifted copy ``a'``, shared by every model.
        invert_kwargs: passed to :func:`depthrep.invert` (``method``, ``record_every``, ...).
    """
    pairs = [(m, w, net) for m, by_weights in networks.items() for w, net in by_weights.items()]
    if not pairs:
        raise ValueError("No networks to invert: pass {model label: {weights label: model}}.")
    first = pairs[0][2]
    names = depth_order(first, layers if layers is not None else default_layers(first))
    runs = tuple(
        Reconstructions(m, w, run_on(net, images, names, steps, seed=seed, name=m, **invert_kwargs).results)
        for m, w, net in pairs
    )
    labels = tuple(image_names) if image_names is not None else _numbered(len(images))
    return LayerGrid(runs, images.detach().float().cpu(), labels, tuple(names))


def _numbered(count: int) -> tuple[str, ...]:
    return tuple(f"image {i + 1}" for i in range(count))
