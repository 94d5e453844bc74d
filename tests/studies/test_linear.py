import pytest
import torch

import depthrep
from depthrep import get_method, invert, load_model, start_image
from depthrep.studies import linear


@pytest.fixture
def square():
    return load_model("fc48x3", image_size=4, device="cpu")


def test_exact_inverse_recovers_the_input_in_float64(square):
    image = torch.rand(2, 3, 4, 4)
    recovered = linear.exact_inverse(square, linear.forward(square, image))
    assert (recovered - image.double()).abs().max() < 1e-9
    # The float64 forward is the model's own forward.
    torch.testing.assert_close(linear.forward(square, image).float(), square(image), rtol=1e-4, atol=1e-5)


def test_condition_number_of_composition_matches_svd(square):
    kappa = linear.condition_numbers(square)
    weight, _ = linear.compose(square)
    s = torch.linalg.svdvals(weight)
    assert kappa.shape == (3,)
    assert kappa[-1] == pytest.approx(float(s[0] / s[-1]), rel=1e-9)


def test_null_space_distance_is_the_floor_of_plain_gradient_descent():
    narrow = load_model("fc30,20", image_size=4, device="cpu")  # 48 inputs -> 20: 28-dim null space
    target = torch.rand(1, 3, 4, 4)
    method = get_method("paper", blur=None, lr=(0.05, 0.05))
    result = invert(narrow, target, "fc2", steps=50, method=method, progress=False)["fc2"]
    start = start_image((1, 3, 4, 4), method=method)
    floor = linear.null_space_distance(narrow, start, target)
    assert floor > 0.5
    # Plain GD never moves in the null space: the null-space part is unchanged.
    torch.testing.assert_close(
        linear.null_space_distance(narrow, result.image, target), floor, rtol=1e-4, atol=0
    )
    wide = load_model("fc60x2", image_size=4, device="cpu")
    assert linear.null_space_distance(wide, start, target) < 1e-6


def test_neighbourhood_points_map_near_the_target(square):
    image = torch.rand(1, 3, 4, 4)
    samples = linear.neighbourhood(square, image, sigma=1e-3, samples=5, seed=0)
    offsets = linear.forward(square, samples) - linear.forward(square, image)
    assert samples.shape == (5, 3, 4, 4)
    assert offsets.std().item() == pytest.approx(1e-3, rel=0.3)


def test_neighbourhood_experiment_reports_all_distances(square):
    image = torch.rand(1, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    result = depthrep.studies.neighbourhood_experiment(square, image, samples=10, steps=5)
    assert result.error64 < 1e-8 < result.error32
    # Both errors are rounding times the conditioning: error / ||a|| is about condition * eps
    # (at most 2x; at least 1e-3x: on nets this tiny a few solves may happen to round well).
    for error, dtype in ((result.error64, torch.float64), (result.error32, torch.float32)):
        rounding = result.condition * torch.finfo(dtype).eps * float(image.norm())
        assert 1e-3 * rounding < error < 2 * rounding
    assert result.sampled.shape == (10,) and result.shifted > 0 and result.descent > 0


def test_random_maps_have_the_asked_condition_and_preimages_land_on_the_circle():
    maps = linear.random_maps(3, dim=2, condition=4.0, seed=1)
    for m in maps:
        s = torch.linalg.svdvals(m)
        assert float(s[0] / s[1]) == pytest.approx(4.0)
    points = linear.preimage_of_circle(maps, points=16)
    composed = maps[2] @ maps[1] @ maps[0]
    torch.testing.assert_close((points @ composed.T).norm(dim=1), torch.ones(16, dtype=torch.float64))


def test_relu_nets_and_narrow_layers_are_refused():
    with pytest.raises(ValueError, match="not affine"):
        linear.compose(load_model("fc48-relu", image_size=4, device="cpu"))
    with pytest.raises(ValueError, match="narrower"):
        linear.exact_inverse(load_model("fc20", image_size=4, device="cpu"), torch.zeros(1, 20))
