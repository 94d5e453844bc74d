import pytest
import torch

import depthrep
from depthrep.studies.gains import layer_sizes, local_gains


@pytest.fixture(scope="module")
def linear_net():
    """A linear net: its Jacobian anywhere is W2 W1, with known singular values."""
    model = depthrep.load_model("fc20x2", image_size=3, seed=0)
    w1, w2 = model.fc1.weight.detach().double(), model.fc2.weight.detach().double()
    return model, {"fc1": w1, "fc2": w2 @ w1}


def test_largest_gain_is_the_largest_singular_value(linear_net, device):
    model, jacobians = linear_net
    image = torch.rand(2, 3, 3, 3, generator=torch.Generator().manual_seed(0))
    gains = local_gains(model.to(device), image, ["fc1", "fc2"], iterations=200)
    for layer, j in jacobians.items():
        sigma = torch.linalg.svdvals(j)
        torch.testing.assert_close(gains[layer].largest.double(), sigma[0].expand(2), rtol=1e-3, atol=0)
        assert (gains[layer].converged < 1e-4).all()
        assert ((gains[layer].random >= sigma[-1] * 0.999) & (gains[layer].random <= sigma[0] * 1.001)).all()


def test_gain_along_a_singular_direction_is_its_singular_value(linear_net, device):
    model, jacobians = linear_net
    _, sigma, vh = torch.linalg.svd(jacobians["fc2"])  # vh: (27, 27), rows 20-26 span the null space
    image = torch.full((1, 3, 3, 3), 0.5)
    along = {"smallest": vh[19], "null": vh[26]}
    for name, v in along.items():
        reconstruction = image + 0.1 * v.float().view(1, 3, 3, 3)
        gains = local_gains(model.to(device), image, "fc2", reconstructions={"fc2": reconstruction})["fc2"]
        expected = sigma[19] if name == "smallest" else 0.0
        assert gains.error.item() == pytest.approx(float(expected), rel=1e-3, abs=1e-5)
        assert gains.error_ratio.item() < 1


def test_relu_gains_depend_on_where_the_jacobian_is_taken(device):
    model = depthrep.load_model("fc20x2-relu", image_size=3, seed=0).to(device)
    images = torch.stack(
        [torch.full((3, 3, 3), 0.0), torch.rand(3, 3, 3, generator=torch.Generator().manual_seed(1))]
    )
    gains = local_gains(model, images, "relu2", directions=4)["relu2"]
    assert gains.largest.shape == (2,) and gains.random.shape == (2, 4) and gains.error is None
    assert not torch.allclose(gains.largest[0], gains.largest[1])


def test_layer_sizes_are_a_forward_passes_shapes(resnet18):
    sizes = layer_sizes(resnet18, 64, depthrep.layers(resnet18))
    x = torch.zeros(1, 3, 64, 64)
    with torch.no_grad():
        stem = resnet18.relu(resnet18.bn1(resnet18.conv1(x)))
        conv5 = resnet18.layer4(resnet18.layer3(resnet18.layer2(resnet18.layer1(resnet18.maxpool(stem)))))
    by_name = {s.layer: s for s in sizes}
    assert by_name["conv1_prepool"].shape == tuple(stem.shape[1:])
    assert by_name["conv5"].shape == tuple(conv5.shape[1:]) == (512, 2, 2)
    assert by_name["conv5"].ratio == pytest.approx(512 * 2 * 2 / (3 * 64 * 64))
    assert [s.layer for s in sizes] == depthrep.layers(resnet18)


def test_gains_over_seeds_is_each_seeds_model_along_its_own_error(hopper32):
    layers = ["conv1", "conv3"]
    targets = torch.cat([hopper32, hopper32.flip(-1)])  # two images: member k * 2 + b
    results = depthrep.invert_over_seeds("resnet18", targets, layers, 2, seeds=(0, 3), progress=False)
    settings = {"iterations": 3, "directions": 2}
    joined = depthrep.studies.gains_over_seeds("resnet18", targets, results, seeds=(0, 3), **settings)
    for k, seed in enumerate((0, 3)):
        model = depthrep.load_model("resnet18", seed=seed)
        errors = {layer: r.image[2 * k : 2 * k + 2] for layer, r in results.items()}
        own = local_gains(model, targets, layers, reconstructions=errors, seed=seed, **settings)
        for layer in layers:
            for field in ("largest", "random", "error"):
                torch.testing.assert_close(
                    getattr(joined[layer], field)[2 * k : 2 * k + 2], getattr(own[layer], field)
                )
    assert joined["conv3"].labels == results["conv3"].labels
    torch.testing.assert_close(
        joined["conv3"].mean_per("target", "largest"), joined["conv3"].largest.view(2, 2).mean(0)
    )  # seed-major: member k * 2 + b
    with pytest.raises(ValueError, match="one member per seed"):
        depthrep.studies.gains_over_seeds("resnet18", targets, results, seeds=(0,))
    with pytest.raises(ValueError, match="one member per seed"):
        depthrep.studies.gains_over_seeds("resnet18", targets, results, seeds=(3, 0))


def test_layer_sizes_need_no_computation():
    model = depthrep.load_model("resnet50", device="meta")
    sizes = {s.layer: s for s in layer_sizes(model, 299, depthrep.layers(model))}
    assert sizes["conv5"].values == 2048 * 10 * 10
    assert sizes["conv5"].ratio == pytest.approx(204_800 / 268_203)
