import math

import pytest
import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

import depthrep
from depthrep.core.scores import SSIM_MIN_SIZE, psnr, ssim


def _pair(size=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(3, 3, size, size, generator=g)
    b = (a + 0.1 * torch.randn(a.shape, generator=g)).clamp(0, 1)
    return a, b


def test_ssim_agrees_with_torchmetrics():
    a, b = _pair()
    reference = structural_similarity_index_measure(
        b.double(), a.double(), data_range=1.0, kernel_size=11, sigma=1.5, k1=0.01, k2=0.03, reduction="none"
    )
    torch.testing.assert_close(ssim(b, a).double(), reference, rtol=0, atol=2e-3)


def test_psnr_agrees_with_torchmetrics_and_with_m_i():
    a, b = _pair()
    reference = torch.stack(
        [peak_signal_noise_ratio(p, q, data_range=1.0) for p, q in zip(b, a, strict=True)]
    )
    torch.testing.assert_close(psnr(b, a), reference, rtol=1e-5, atol=1e-4)


def test_identical_images_score_perfectly_and_small_ones_are_undefined():
    a, _ = _pair()
    assert torch.equal(ssim(a, a), torch.ones(3)) and psnr(a, a).isinf().all()
    tiny = torch.rand(1, 3, SSIM_MIN_SIZE - 1, SSIM_MIN_SIZE - 1)
    assert math.isnan(ssim(tiny, tiny).item())
    with pytest.raises(ValueError, match="one shape"):
        ssim(a, a[:1])


def test_an_inversion_result_carries_its_psnr(resnet18, hopper32, device):
    result = depthrep.invert(resnet18, hopper32.to(device), "conv1", steps=2)["conv1"]
    torch.testing.assert_close(result.psnr, psnr(result.image, hopper32), rtol=1e-5, atol=1e-4)
