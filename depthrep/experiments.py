"""Experiments built on :func:`depthrep.invert`: the same inversion over seeds, starts and nets.

A claim checked on every member of these runs holds across model initialisations and
starting noises, not for one lucky draw. Results are joined along the batch, seed-major.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from .invert import invert
from .methods import Method
from .models import fc_name, load_model
from .results import InversionResult, concat_results


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
        invert_kwargs: passed to :func:`depthrep.invert` (``method``, ``record_every``, ...).
    Returns:
        ``{layer: InversionResult}`` with batch dimension ``len(seeds) * B``, seed-major:
        member ``k * B + b`` is seed ``k``'s image ``b`` (:func:`depthrep.mean_per_target`).
    """
    runs = []
    for seed in seeds:
        net = load_model(model, weights, seed=seed, device=device, image_size=image_size)
        runs.append(invert(net, image, layers, steps, seed=seed, **invert_kwargs))
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
    return concat_results(invert(model, image, layers, steps, seed=seed, **invert_kwargs) for seed in seeds)


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
