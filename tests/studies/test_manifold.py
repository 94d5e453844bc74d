import torch

from depthrep.studies import manifold


def test_phase_randomised_copy_keeps_spectrum_and_colour_but_not_structure():
    image = torch.rand(2, 3, 16, 16)
    copy = manifold.phase_randomise(image, seed=3)
    amplitude = lambda x: torch.fft.fft2(x - x.mean(dim=(-2, -1), keepdim=True)).abs()  # noqa: E731
    torch.testing.assert_close(amplitude(copy), amplitude(image), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(copy.mean(dim=(-2, -1)), image.mean(dim=(-2, -1)), rtol=1e-5, atol=1e-5)
    assert (copy - image).abs().mean() > 0.1
    assert torch.equal(manifold.phase_randomise(image, seed=3), copy)


def test_high_frequency_share_separates_smooth_from_checkered():
    y, x = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")
    smooth = (x / 15).expand(1, 3, 16, 16)
    checkered = ((x + y) % 2).expand(1, 3, 16, 16)
    assert manifold.high_frequency_fraction(smooth) < 0.1 < 0.9 < manifold.high_frequency_fraction(checkered)


def test_filter_roughness_ranks_smooth_below_random():
    ramp = torch.linspace(0, 1, 7).view(1, 1, 1, 7).expand(4, 3, 7, 7)
    random = torch.randn(4, 3, 7, 7, generator=torch.Generator().manual_seed(0))
    assert manifold.filter_roughness(ramp) < 0.5 * manifold.filter_roughness(random)


def test_spectral_slope_is_flat_for_white_noise_and_steep_for_smooth_images():
    noise = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    smooth = torch.nn.functional.avg_pool2d(noise, 9, stride=1, padding=4, count_include_pad=False)
    slopes = manifold.spectral_slope(torch.cat([noise, smooth]))
    assert slopes[:2].abs().max() < 0.2 and (slopes[2:] < -1.5).all()
    frequencies, power = manifold.radial_power(noise)
    assert frequencies[0] == 1 / 64 and frequencies[-1] == 0.5 and power.shape == (2, len(frequencies))


def test_excess_kurtosis_is_zero_for_gaussian_negative_for_uniform_positive_for_spikes():
    g = torch.Generator().manual_seed(0)
    gaussian, uniform = torch.randn(1, 100_000, generator=g), torch.rand(1, 100_000, generator=g)
    spiky = torch.zeros(1, 100_000)
    spiky[0, :500] = 1
    k = manifold.excess_kurtosis(torch.cat([gaussian, uniform, spiky]))
    assert abs(k[0]) < 0.1 and abs(k[1] + 1.2) < 0.05 and k[2] > 50
