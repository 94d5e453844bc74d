"""Why a layer forgets, measured on the network itself: its size and its local gains.

The paper's explanation has two parts. *Exact* non-invertibility: a layer that holds fewer
values than its input (or pools, strides, clips with ReLU) maps many inputs to one.
*Approximate* non-invertibility: the layer, linearised at the target ``a``, shrinks some
directions so much that an optimiser cannot tell ``a + v`` from ``a``. Two measurements
say which applies where:

- :func:`layer_sizes`: how many values each layer holds against the input, from the
  encoder's own shapes;
- :func:`local_gains`: the gain ``||J v|| / ||v||`` of the layer's Jacobian ``J`` at the
  target, for its largest direction (power iteration), for random unit directions, and
  along the error of a finished reconstruction ``v = a_g - a``. If the error direction is
  among the most contracted ones, the layer cannot see the difference between ``a_g``
  and ``a``: the forward pass lost it.

Jacobian products use ``torch.func.jvp`` and ``torch.func.vjp``: no Jacobian is formed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.func import jvp, vjp

from depthrep._util.streams import generator
from depthrep.core.distances import norm
from depthrep.core.encoder import encoder_for
from depthrep.core.labels import Labelled, join, run_labels
from depthrep.core.results import InversionResult
from depthrep.zoo.images import check_image
from depthrep.zoo.models import load_model, model_device

POWER_ITERATIONS = 30
"""Power iterations for the largest gain; :attr:`Gains.converged` says how far the last one moved."""
DIRECTIONS = 16
"""Random unit directions per target for the typical gain."""


@dataclass(frozen=True)
class LayerSize:
    """How many values a layer holds for one input of a given size."""

    layer: str
    shape: tuple[int, ...]
    """Shape of one member's embedding (no batch dimension)."""
    values: int
    """Number of values in one member's embedding."""
    ratio: float
    """``values`` over the input's ``3 * H * W``: below 1 the layer cannot be injective."""


def layer_sizes(model: nn.Module, size: int, layers: str | Iterable[str]) -> list[LayerSize]:
    """Values held at each of ``layers`` for one ``(3, size, size)`` input, in the order given.

    Computed from one forward pass of a blank image through the truncated model, so it
    holds for any architecture :func:`depthrep.layers` knows.
    """
    encoder = encoder_for(model, layers)
    inputs = 3 * size * size
    with torch.no_grad():
        shapes = {k: tuple(v.shape[1:]) for k, v in encoder(_blank(model, size)).items()}
    return [
        LayerSize(layer, shape, int(torch.Size(shape).numel()), torch.Size(shape).numel() / inputs)
        for layer, shape in shapes.items()
    ]


@dataclass(frozen=True)
class Gains(Labelled):
    """Local gains of one layer's Jacobian at each of ``B`` targets."""

    layer: str
    largest: torch.Tensor
    """``(B,)``: the largest gain (spectral norm of ``J``), by power iteration."""
    converged: torch.Tensor
    """``(B,)``: relative change of the largest gain over the last power iteration."""
    random: torch.Tensor
    """``(B, D)``: gains along ``D`` random unit directions (Gaussian, in pixel space)."""
    error: torch.Tensor | None
    """``(B,)``: gain along ``a_g - a`` of a finished reconstruction, if one was given."""
    labels: Mapping[str, tuple] = field(default_factory=dict)
    """What each member is (:class:`depthrep.core.labels.Labelled`): :func:`gains_over_seeds` copies
    the inversions' labels, so ``mean_per("target", "largest")`` works as on their results."""

    @property
    def typical(self) -> torch.Tensor:
        """``(B,)``: the median gain over the random directions."""
        return self.random.median(dim=1).values

    @property
    def error_ratio(self) -> torch.Tensor | None:
        """``(B,)``: the error direction's gain over the typical one; far below 1, the
        layer contracts exactly the difference the reconstruction got wrong."""
        return None if self.error is None else self.error / self.typical


def local_gains(
    model: nn.Module,
    image: torch.Tensor,
    layers: str | Iterable[str],
    *,
    reconstructions: Mapping[str, torch.Tensor] | None = None,
    iterations: int = POWER_ITERATIONS,
    directions: int = DIRECTIONS,
    seed: int = 0,
    normalize: bool = False,
) -> dict[str, Gains]:
    """The gains of each layer's Jacobian ``J`` at the targets ``a = image``.

    Args:
        model: a frozen model in eval mode; the computation runs on its device.
        image: ``(B, 3, H, W)`` targets in ``[0, 1]``.
        layers: layer names (:func:`depthrep.layers`).
        reconstructions: ``{layer: (B, 3, H, W)}`` finished reconstructions ``a_g`` (for
            instance ``{l: r.image for l, r in invert(...).items()}``); the gain along
            ``a_g - a`` is measured for the layers present.
        iterations: power iterations (``J^T J`` products) for the largest gain.
        directions: random unit directions per target.
        seed: seeds the random directions and the power iteration's start.

    Returns:
        ``{layer: Gains}`` in the order given.
    """
    image = check_image(image, what="image")
    device = model_device(model)
    a = image.to(device).contiguous()  # an expanded batch would share memory between members
    layers = [layers] if isinstance(layers, str) else list(layers)
    out = {}
    for layer in layers:
        encoder = encoder_for(model, [layer], normalize=normalize)

        def f(x, encoder=encoder, layer=layer):
            return encoder(x)[layer]

        error = None
        if reconstructions is not None and layer in reconstructions:
            error = gain(f, a, (reconstructions[layer].to(device) - a).contiguous()).cpu()
        largest, converged = _largest_gain(f, a, iterations, seed)
        out[layer] = Gains(layer, largest, converged, _random_gains(f, a, directions, seed), error)
    return out


def gains_over_seeds(
    model: str,
    image: torch.Tensor,
    results: Mapping[str, InversionResult],
    seeds: Iterable[int] = (0, 1),
    *,
    weights: str = "random",
    device: str | torch.device | None = None,
    **kwargs,
) -> dict[str, Gains]:
    """:func:`local_gains` of each seed's model at the targets ``image`` ``(B, 3, H, W)``, along
    the errors of ``results`` (from :func:`depthrep.invert_over_seeds` with the same seeds and
    targets); joined along the batch in the order of ``results``, with their labels."""
    seeds = list(seeds)
    targets = len(check_image(image, what="image"))
    if not results:
        raise ValueError("gains_over_seeds needs the results of at least one layer")
    first = next(iter(results.values()))
    expected = join([run_labels(targets, s) for s in seeds], [targets] * len(seeds))  # invert_over_seeds'
    if any(first.labels.get(label) != values for label, values in expected.items()):
        there = {label: first.labels.get(label) for label in expected}
        raise ValueError(f"results do not hold one member per seed of {seeds} and image ({targets}): {there}")
    runs = []
    for seed in seeds:
        net = load_model(model, weights, seed=seed, device=device, image_size=image.shape[-1])
        errors = {layer: r.select(seed=seed).image for layer, r in results.items()}
        runs.append(local_gains(net, image, list(results), reconstructions=errors, seed=seed, **kwargs))
    columns = ("largest", "converged", "random", "error")
    return {
        layer: Gains(layer, *(torch.cat([getattr(run[layer], c) for run in runs]) for c in columns), r.labels)
        for layer, r in results.items()
    }


def gain(f, a: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``(B,)``: ``||J_f(a) v|| / ||v||`` per member, by one Jacobian-vector product."""
    return norm(jvp(f, (a,), (v,))[1]) / norm(v).clamp_min(1e-30)


def _random_gains(f, a: torch.Tensor, count: int, seed: int) -> torch.Tensor:
    b = len(a)
    v = torch.randn((count, *a.shape), generator=generator(seed, "directions")).to(a.device)
    gains = [gain(f, a, v[k]) for k in range(count)]  # one member batch per direction: same memory as a
    return torch.stack(gains, dim=1).reshape(b, count).cpu()


def _largest_gain(f, a: torch.Tensor, iterations: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    _, pullback = vjp(f, a)
    v = torch.randn(a.shape, generator=generator(seed, "power iteration")).to(a.device)
    estimate = previous = torch.zeros(len(a), device=a.device)
    for _ in range(max(1, iterations)):
        v = v / norm(v).clamp_min(1e-30).view(-1, *[1] * (v.dim() - 1))
        jv = jvp(f, (a,), (v,))[1]
        previous, estimate = estimate, norm(jv)
        v = pullback(jv)[0]
    converged = (estimate - previous).abs() / estimate.clamp_min(1e-30)
    return estimate.cpu(), converged.cpu()


def _blank(model: nn.Module, size: int) -> torch.Tensor:
    return torch.zeros((1, 3, size, size), device=model_device(model))
