"""The paper's three distances, all L2 norms over a whole tensor per batch member.

- ``m_i = ||a_g - a||``: input distance between a reconstruction and its target;
- ``m_g = ||O(a) - O(a_g)||``: embedding distance at one layer;
- ``m_r = ||O(a) - O(a')||`` with ``a' = a + N(0, sigma^2)``: the reference, how far a
  barely perturbed copy of the target lands in the same embedding.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from depthrep._util.streams import generator
from depthrep.core.encoder import encoder_for
from depthrep.zoo.models import model_device

SHIFT_SIGMA = 1 / 25
"""Std of the pixel noise that makes the shifted input ``a'`` (the paper's text: 1/25)."""


class Shifted(NamedTuple):
    """A shifted copy ``a'`` of a target and its embedding distance ``m_r``."""

    image: torch.Tensor
    """``(B, 3, H, W)``: ``a + N(0, sigma^2)``, not clamped (as in the paper)."""
    distance: torch.Tensor
    """``(B,)``: ``m_r = ||O(a) - O(a')||`` at the layer."""


def norm(x: torch.Tensor) -> torch.Tensor:
    """L2 norm of each batch member: ``(B, ...) -> (B,)``, computed in float32."""
    return x.detach().float().flatten(1).norm(dim=1)


def input_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``m_i = ||a - b||`` per batch member: ``(B, 3, H, W)`` twice -> ``(B,)``."""
    return norm(a - b)


def colour_matched_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``(B,)``: ``||a - b||`` after ``a`` is given ``b``'s mean colour (each channel's mean
    difference removed): the input distance that does not count a global colour shift.
    ``a, b: (B, 3, H, W)``."""
    difference = a - b
    return norm(difference - difference.mean(dim=(-2, -1), keepdim=True))


def flat_distance(a: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W) -> (B,)``: ``m_i`` of the image of ``a``'s mean colour, flat, from ``a``.

    The baseline of no information beyond the average colour: a reconstruction farther from
    the target than this has kept less of it, in pixels, than a flat image would.
    """
    return norm(a - a.mean(dim=(2, 3), keepdim=True))


def embedding_distance(
    model: nn.Module, layer: str, a: torch.Tensor, b: torch.Tensor, *, normalize: bool = False
) -> torch.Tensor:
    """``||O_l(a) - O_l(b)||`` per batch member, at ``layer`` of ``model``.

    Args:
        a, b: ``(B, 3, H, W)`` images in ``[0, 1]`` (moved to the model's device).
    Returns:
        ``(B,)`` float32 on the model's device.
    """
    encoder = encoder_for(model, [layer], normalize=normalize)
    device = model_device(model)
    with torch.no_grad():
        both = encoder(torch.cat([a, b]).to(device))[layer]
    return norm(both[: len(a)] - both[len(a) :])


def shift(image: torch.Tensor, sigma: float = SHIFT_SIGMA, seed: int = 0) -> torch.Tensor:
    """``a' = a + N(0, sigma^2)`` per pixel, from a generator seeded with ``seed``.

    The noise is drawn on the CPU, so ``a'`` is the same on every device.
    """
    noise = torch.randn(image.shape, generator=generator(seed, "shifts"))
    return image + sigma * noise.to(image.device, image.dtype)


def shifted_reference(
    model: nn.Module,
    image: torch.Tensor,
    layer: str,
    sigma: float = SHIFT_SIGMA,
    seed: int = 0,
    *,
    normalize: bool = False,
) -> Shifted:
    """The shifted input ``a'`` and the reference distance ``m_r`` at ``layer``.

    Args:
        image: ``(B, 3, H, W)`` targets in ``[0, 1]``.
        sigma: std of the added pixel noise (the paper's text uses 1/25, its code 1/18).
    """
    shifted = shift(image, sigma, seed)
    return Shifted(shifted, embedding_distance(model, layer, image, shifted, normalize=normalize))
