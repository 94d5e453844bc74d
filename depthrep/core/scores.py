"""Image-quality scores beside the paper's ``m_i``: PSNR and SSIM of a reconstruction.

``m_i = ||a_g - a||`` stays the paper's measure; these two say the same thing in the units
image people read. Both take images in ``[0, 1]`` (data range 1).

- PSNR ``= 10 log10(1 / MSE)`` in decibels, ``MSE = m_i^2 / (3 H W)``: a function of
  ``m_i`` alone (:func:`psnr_from_distance`).
- SSIM (Wang, Bovik, Sheikh and Simoncelli 2004) by scikit-image's
  ``structural_similarity`` with the paper's settings (:data:`SSIM_SETTINGS`): an 11-tap
  Gaussian window of sigma 1.5, ``K1 = 0.01``, ``K2 = 0.03``, population covariances, the
  mean over the image and its colour channels. Undefined (NaN) below :data:`SSIM_MIN_SIZE`
  pixels a side, where the window does not fit.
"""

from __future__ import annotations

import math

import torch
from skimage.metrics import structural_similarity

SSIM_SETTINGS = {
    "gaussian_weights": True,
    "sigma": 1.5,
    "use_sample_covariance": False,
    "K1": 0.01,
    "K2": 0.03,
}
"""Wang et al. (2004)'s SSIM: keyword arguments of ``skimage.metrics.structural_similarity``."""
SSIM_MIN_SIZE = 11
"""Smallest side SSIM is defined at: the Gaussian window's width (``2 * round(3.5 * 1.5) + 1``)."""


def psnr_from_distance(input_distance: torch.Tensor, values: int) -> torch.Tensor:
    """``(B,)`` PSNR in dB from ``m_i`` ``(B,)`` of images with ``values`` numbers each;
    ``inf`` for a perfect reconstruction."""
    mse = input_distance.double().square() / values
    return (10 * torch.log10(1 / mse)).float()


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` twice -> ``(B,)``: PSNR of each pair, in dB."""
    difference = (a.detach().double() - b.detach().double().to(a.device)).flatten(1)
    return psnr_from_distance(difference.norm(dim=1).cpu(), difference.shape[1])


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` twice -> ``(B,)``: SSIM of each pair (1 for identical images), on the
    CPU; NaN where the side is below :data:`SSIM_MIN_SIZE`."""
    if a.shape != b.shape or a.dim() != 4:
        raise ValueError(
            f"ssim takes two (B, C, H, W) batches of one shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    if min(a.shape[-2:]) < SSIM_MIN_SIZE:
        return torch.full((len(a),), math.nan)
    x, y = (t.detach().cpu().double().numpy() for t in (a, b))
    return torch.tensor(
        [
            structural_similarity(p, q, channel_axis=0, data_range=1.0, **SSIM_SETTINGS)
            for p, q in zip(x, y, strict=True)
        ],
        dtype=torch.float32,
    )
