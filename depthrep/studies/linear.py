"""Linear algebra of the paper's fully connected nets: exact inverses and conditioning.

A fully connected net without ReLU is an affine map ``x -> W x + b``. These functions
read its layers as float64 matrices to invert it exactly, measure how badly conditioned
the composed map is at each depth, and compute the part of an input a layer can never
see (its null space), which no input-gradient method can recover.
"""

from __future__ import annotations

import torch

from depthrep._util.streams import generator
from depthrep.zoo.models import FullyConnected


def affine_layers(
    model: FullyConnected, dtype: torch.dtype = torch.float64
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``[(W_k, b_k)]`` of each layer, on the CPU in ``dtype``.

    Raises:
        ValueError: the net has ReLUs (it is not affine) or is not a :class:`FullyConnected`.
    """
    if not isinstance(model, FullyConnected):
        raise ValueError(f"Expected one of the paper's fully connected nets, got {type(model).__name__}.")
    if model.relu:
        raise ValueError("A net with ReLU is not affine: build it without '-relu' for exact inversion.")
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    return [(m.weight.detach().to("cpu", dtype), m.bias.detach().to("cpu", dtype)) for m in linears]


def compose(model: FullyConnected, depth: int | None = None, dtype: torch.dtype = torch.float64):
    """``(W, b)`` of the first ``depth`` layers composed (all when ``None``): ``O(x) = W x + b``."""
    layers = affine_layers(model, dtype)[:depth]
    weight, bias = layers[0]
    for w, b in layers[1:]:
        weight, bias = w @ weight, w @ bias + b
    return weight, bias


def condition_numbers(model: FullyConnected) -> torch.Tensor:
    """``(L,)``: condition number ``s_max / s_min`` of the map up to each depth ``1..L``.

    ``s_min`` is the smallest of the ``min(rows, cols)`` singular values: for a layer
    narrower than the input the map is not injective whatever this number says.
    """
    values, weight = [], None
    for w, _ in affine_layers(model):  # compose one layer more at each depth, not from scratch
        weight = w if weight is None else w @ weight
        values.append(condition_number(weight))
    return torch.stack(values)


def condition_number(weight: torch.Tensor) -> torch.Tensor:
    """``s_max / s_min`` of a ``(rows, cols)`` matrix, over its ``min(rows, cols)`` singular values."""
    s = torch.linalg.svdvals(weight)
    return s[0] / s[-1]


def exact_inverse(
    model: FullyConnected, embedding: torch.Tensor, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """The input whose embedding (last layer) is ``embedding``, layer by layer: ``W^-1 (o - b)``.

    Args:
        embedding: ``(B, width_L)``.
    Returns:
        ``(B, 3, S, S)`` in ``dtype``, on the CPU. Layers must be at least as wide as their
        input (square layers are solved, wider ones by least squares).
    """
    h = embedding.detach().to("cpu", dtype)
    for w, b in reversed(affine_layers(model, dtype)):
        if w.shape[0] < w.shape[1]:
            raise ValueError(f"A layer of shape {tuple(w.shape)} is narrower than its input: not invertible.")
        rhs = (h - b).T
        h = (
            torch.linalg.solve(w, rhs) if w.shape[0] == w.shape[1] else torch.linalg.lstsq(w, rhs).solution
        ).T
    return h.reshape(len(h), 3, model.image_size, model.image_size)


def forward(model: FullyConnected, image: torch.Tensor, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``O(image)`` computed in ``dtype`` on the CPU: ``(B, 3, S, S) -> (B, width_L)``."""
    h = image.detach().to("cpu", dtype).flatten(1)
    for w, b in affine_layers(model, dtype):
        h = h @ w.T + b
    return h


def neighbourhood(
    model: FullyConnected, image: torch.Tensor, sigma: float = 1e-3, samples: int = 200, seed: int = 0
) -> torch.Tensor:
    """Inputs ``a''`` whose embeddings are random points near ``O(a)``: ``O(a'') = O(a) + N(0, sigma^2)``.

    Args:
        image: ``(1, 3, S, S)`` the target ``a``.
    Returns:
        ``(samples, 3, S, S)`` float64: the exact preimages of the perturbed embeddings.
    """
    target = forward(model, image)
    noise = torch.randn(
        (samples, target.shape[1]), generator=generator(seed, "neighbourhood"), dtype=torch.float64
    )
    return exact_inverse(model, target + sigma * noise)


def null_space_distance(model: FullyConnected, start: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``(B,)``: the part of ``start - target`` in the null space of the composed map.

    Plain gradient descent on the input moves only within the row space of ``W`` (every
    input gradient is ``W^T g``), so from ``start`` it can never come closer to ``target``
    than this: zero for an injective map, positive once a layer is narrower than the input.
    """
    weight, _ = compose(model)
    delta = (start.detach().cpu().double() - target.detach().cpu().double()).flatten(1)
    _, s, basis = torch.linalg.svd(weight, full_matrices=False)  # rows of basis span the row space
    row = basis[: int((s > 1e-10 * s[0]).sum())]  # its rank's first rows
    return (delta - (delta @ row.T) @ row).norm(dim=1)


def random_maps(depth: int, dim: int = 2, condition: float = 3.0, seed: int = 0) -> torch.Tensor:
    """``(depth, dim, dim)`` float64 random maps ``U diag(s) V^T``, each of condition number ``condition``.

    ``U`` and ``V`` are random rotations; the singular values ``s`` spread geometrically from
    ``sqrt(condition)`` to ``1 / sqrt(condition)``, so every map keeps volume and stretches
    as much as every other: what grows with depth is the composition's doing alone.
    """
    g = generator(seed, "random maps")
    maps = []
    for _ in range(depth):
        u, _ = torch.linalg.qr(torch.randn((dim, dim), generator=g, dtype=torch.float64))
        v, _ = torch.linalg.qr(torch.randn((dim, dim), generator=g, dtype=torch.float64))
        s = torch.logspace(0.5, -0.5, dim, base=condition, dtype=torch.float64)
        maps.append(u @ torch.diag(s) @ v.T)
    return torch.stack(maps)


def preimage_of_circle(maps: torch.Tensor, points: int = 720, radius: float = 1.0) -> torch.Tensor:
    """Inputs whose image under ``maps[-1] @ ... @ maps[0]`` lies on a circle of ``radius``.

    The "spiky ball" in two dimensions: equal distances in the embedding are an ellipse
    of axis ratio equal to the condition number in the input. Returns ``(points, 2)``.
    """
    composed = torch.eye(maps.shape[-1], dtype=maps.dtype)
    for m in maps:
        composed = m @ composed
    angle = torch.linspace(0, 2 * torch.pi, points, dtype=maps.dtype)
    circle = radius * torch.stack([angle.cos(), angle.sin()], dim=1)
    return torch.linalg.solve(composed, circle.T).T
