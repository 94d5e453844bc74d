"""Experiments built on :func:`depthrep.invert`: the same inversion over seeds, starts and nets,
and the paper's neighbourhood experiment (exact inversion against gradient descent). Each
inversion is one job (:func:`depthrep.core.jobs.run_on`).

A claim checked on every member of these runs holds across model initialisations and
starting noises, not for one lucky draw. Results are joined along the batch, seed-major.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from depthrep.core.distances import shifted_reference
from depthrep.core.jobs import model_reference, run_on
from depthrep.core.methods import Method
from depthrep.core.results import InversionResult, concat_results
from depthrep.studies.linear import compose, condition_number, exact_inverse, forward, neighbourhood
from depthrep.zoo.models import FullyConnected, fc_name, load_model


def invert_over_seeds(
    model: str,
    image: torch.Tensor,
    layers: str | Iterable[str],
    steps: int,
    seeds: Iterable[int] = (0, 1),
    *,
    weights: str = "random",
    device: str | torch.device | None = None,
    image_size: int | None = None,
    **invert_kwargs,
) -> dict[str, InversionResult]:
    """Invert with a fresh model and a fresh start for each seed; results joined along the batch.

    Seed ``s`` initialises the model (for ``weights="random"``) and the starting noise, so a
    claim that holds for every batch member holds across model initialisations and starts.

    Args:
        model: a model name (see :func:`depthrep.load_model`).
        image: ``(B, 3, H, W)`` targets in ``[0, 1]``.
        invert_kwargs: passed to :func:`depthrep.invert` (``method``, ``normalize``,
            ``precision``, ``record_every``, ``progress``, ``memory_budget``).
    Returns:
        ``{layer: InversionResult}`` with batch dimension ``len(seeds) * B``, seed-major:
        member ``k * B + b`` is seed ``k``'s image ``b``, labelled ``seed`` and ``target``
        (:meth:`InversionResult.select`, :meth:`InversionResult.mean_per`).
    """
    runs = []
    for seed in seeds:
        net = load_model(model, weights, seed=seed, device=device, image_size=image_size)
        runs.append(run_on(net, image, layers, steps, seed=seed, name=model, weights=str(weights),
                           **invert_kwargs).results)  # fmt: skip
    return concat_results(runs)


def invert_over_starts(
    model: nn.Module,
    image: torch.Tensor,
    layers: str | Iterable[str],
    steps: int,
    seeds: Iterable[int] = (0, 1),
    **invert_kwargs,
) -> dict[str, InversionResult]:
    """Invert with one model from a fresh start per seed; results joined along the batch, in seed
    order (member ``k * B + b`` is seed ``k``'s image ``b``). :func:`invert_over_seeds` also
    draws a fresh model per seed."""
    weights = model_reference(model)  # once for every seed's job
    runs = (run_on(model, image, layers, steps, seed=s, weights=weights, **invert_kwargs) for s in seeds)
    return concat_results(run.results for run in runs)


def invert_fc(
    widths,
    image: torch.Tensor,
    steps: int,
    seeds: Iterable[int] = (0, 1),
    *,
    relu: bool = False,
    method: str | Method = "fc",
    **invert_kwargs,
) -> InversionResult:
    """Invert the last layer of the paper's fully connected net with these ``widths``, per seed.

    Args:
        widths: units per layer (floats are rounded down), e.g. ``[0.8 * n] * 3``.
        image: ``(B, 3, S, S)``: the net is built for this input size.
    Returns:
        The last layer's result, batch dimension ``len(seeds) * B``, seed-major (as
        :func:`invert_over_seeds`).
    """
    layer = f"fc{len(widths)}"
    name = fc_name([int(w) for w in widths], relu)
    results = invert_over_seeds(
        name, image, layer, steps, seeds, method=method, image_size=image.shape[-1], **invert_kwargs
    )
    return results[layer]


@dataclass(frozen=True)
class Neighbourhood:
    """The paper's experiment 9 for one net: exact inversion against its neighbourhood.

    Distances are in the input (``||x - a||``) and in the embedding (``||O(x) - O(a)||``).
    """

    error64: float
    """``||O^-1(O(a)) - a||`` computed in float64."""
    error32: float
    """The same in float32."""
    sampled: torch.Tensor
    """``(samples,)``: ``||a'' - a||`` for exact preimages of ``O(a) + N(0, sigma^2)``."""
    sampled_embedding: torch.Tensor
    """``(samples,)``: ``||O(a'') - O(a)||``."""
    shifted: float
    """``||a' - a||`` for the shifted input ``a' = a + N(0, (1/25)^2)``."""
    shifted_embedding: float
    descent: float
    """``||a_g - a||`` after gradient descent from noise."""
    descent_embedding: float
    condition: float
    """Condition number of the net's composed map: exact inversion loses about ``condition``
    times the precision's rounding error (``error / ||a||`` near ``condition * eps``)."""


def neighbourhood_experiment(
    model: FullyConnected,
    image: torch.Tensor,
    *,
    sigma: float = 1e-3,
    samples: int = 200,
    steps: int = 220,
    seed: int = 0,
) -> Neighbourhood:
    """Invert ``O(a)`` exactly, invert random points near it, and run gradient descent.

    Args:
        model: a linear :class:`FullyConnected` net whose layers are at least as wide as
            their inputs (the paper: four square layers).
        image: ``(1, 3, S, S)`` the target ``a``.
        steps: gradient-descent iterations (the paper: 220), with the ``fc`` preset.
    """
    y = forward(model, image)
    exact32 = exact_inverse(model, forward(model, image, torch.float32), torch.float32)
    nearby = neighbourhood(model, image, sigma=sigma, samples=samples, seed=seed)
    layer = f"fc{len(model.widths)}"
    shifted = shifted_reference(model, image, layer, seed=seed)
    descent = invert_over_starts(model, image, layer, steps, (seed,), method="fc")[layer]
    target = image.detach().cpu().double()
    return Neighbourhood(
        error64=float((exact_inverse(model, y) - target).norm()),
        error32=float((exact32.double() - target).norm()),
        sampled=(nearby - target).flatten(1).norm(dim=1),
        sampled_embedding=(forward(model, nearby) - y).norm(dim=1),
        shifted=float((shifted.image.cpu().double() - target).norm()),
        shifted_embedding=float(shifted.distance[0]),
        descent=float(descent.input_distance[0]),
        descent_embedding=float(descent.embedding_distance[0]),
        condition=float(condition_number(compose(model)[0])),
    )
