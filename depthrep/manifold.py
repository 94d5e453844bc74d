"""Is a reconstruction pulled toward the training data? Statistics that control for smoothness.

Deep-layer reconstructions are smooth, and smoothness alone brings an image nearer to any
photograph in pixels; so every comparison here is made against a control with the same
smoothness: an image's *phase-randomised* copy keeps its amplitude spectrum and mean
colour but destroys its structure.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.feature_extraction import create_feature_extractor

from .distances import generator


def phase_randomise(images: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Copies with the same amplitude spectrum and mean colour, and random phases.

    One random phase field per image is shared by its three channels, so colours stay
    correlated as in the original. ``(B, 3, H, W) -> (B, 3, H, W)``, not clamped.
    """
    mean = images.mean(dim=(-2, -1), keepdim=True)
    spectrum = torch.fft.fft2(images - mean)
    noise = torch.randn((images.shape[0], 1, *images.shape[-2:]), generator=generator(seed, stream=4))
    phase = torch.angle(torch.fft.fft2(noise)).to(images.device)  # a real field's phases: Hermitian
    return torch.fft.ifft2(spectrum.abs() * torch.exp(1j * (spectrum.angle() + phase))).real + mean


def high_frequency_fraction(images: torch.Tensor, cutoff: float = 0.25) -> torch.Tensor:
    """``(B,)``: share of each image's (mean-removed) spectral energy above ``cutoff`` cycles/pixel."""
    centred = images - images.mean(dim=(-2, -1), keepdim=True)
    power = torch.fft.fft2(centred).abs().square().sum(dim=1)  # (B, H, W), summed over colour
    fy = torch.fft.fftfreq(images.shape[-2]).abs().view(-1, 1)
    fx = torch.fft.fftfreq(images.shape[-1]).abs().view(1, -1)
    high = (torch.maximum(fy, fx) > cutoff).to(power.device)
    return (power * high).flatten(1).sum(1) / power.flatten(1).sum(1)


def filter_roughness(weight: torch.Tensor) -> torch.Tensor:
    """Mean roughness of convolution filters ``(O, I, k, k)``: total variation over magnitude.

    Each filter's summed absolute difference between neighbouring taps, divided by its
    summed absolute deviation from its mean. Random filters score high; smooth, oriented
    filters (what natural images teach a first layer) score low.
    """
    w = weight.detach().float() - weight.detach().float().mean(dim=(-2, -1), keepdim=True)
    tv = (w[..., 1:] - w[..., :-1]).abs().sum(dim=(1, 2, 3)) + (w[..., 1:, :] - w[..., :-1, :]).abs().sum(
        dim=(1, 2, 3)
    )
    return (tv / w.abs().sum(dim=(1, 2, 3)).clamp_min(1e-12)).mean()


def nearest_distance(
    judge: nn.Module, images: torch.Tensor, pool: torch.Tensor, node: str = "avgpool"
) -> torch.Tensor:
    """``(B,)``: distance from each image to its nearest pool image, in a judge model's features.

    The judge is a model trained on the pool's data (another seed than the model whose
    reconstructions are judged); ``node`` its feature layer (a torchvision node name).
    """
    features = create_feature_extractor(judge, {node: "f"})
    device = next(judge.parameters()).device
    with torch.no_grad():
        f = lambda x: torch.cat([features(c.to(device))["f"].flatten(1) for c in x.split(128)])  # noqa: E731
        return torch.cdist(f(images), f(pool)).min(dim=1).values.cpu()


def pull(judge: nn.Module, images: torch.Tensor, pool: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """``(B,)``: how much nearer each image is to the pool than its phase-randomised copy.

    ``nearest(copy) / nearest(image)`` in the judge's features: above 1, the image holds
    structure typical of the pool beyond its spectrum; about 1, none.
    """
    control = phase_randomise(images, seed).clamp(0, 1)
    return nearest_distance(judge, control, pool) / nearest_distance(judge, images, pool)
