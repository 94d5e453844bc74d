import pytest
import torch

import depthrep
from depthrep import embed, embedding_distance, input_distance, shifted_reference


def test_input_distance_is_the_per_member_l2_norm():
    a = torch.zeros(2, 3, 2, 2)
    b = a.clone()
    b[1] = 0.5
    torch.testing.assert_close(input_distance(a, b), torch.tensor([0.0, (12 * 0.25) ** 0.5]))


def test_embedding_distance_matches_embeddings(resnet18, device):
    a = torch.rand(2, 3, 32, 32, device=device)
    b = torch.rand(2, 3, 32, 32, device=device)
    ea, eb = embed(resnet18, a, "conv3")["conv3"], embed(resnet18, b, "conv3")["conv3"]
    want = (ea - eb).flatten(1).norm(dim=1)
    torch.testing.assert_close(embedding_distance(resnet18, "conv3", a, b), want, rtol=1e-5, atol=0)


def test_shifted_reference_adds_seeded_noise_of_sigma(resnet18, hopper32, device):
    image = hopper32.to(device)
    shifted, m_r = shifted_reference(resnet18, image, "conv2", sigma=0.04, seed=3)
    noise = shifted - image
    assert abs(noise.std().item() - 0.04) < 0.002
    assert abs(noise.mean().item()) < 0.002
    again = shifted_reference(resnet18, image, "conv2", sigma=0.04, seed=3)
    assert torch.equal(again.image, shifted)
    assert not torch.equal(shifted_reference(resnet18, image, "conv2", sigma=0.04, seed=4).image, shifted)
    torch.testing.assert_close(m_r, embedding_distance(resnet18, "conv2", image, shifted))


def test_flat_distance_is_the_distance_to_the_mean_colour_image():
    images = torch.rand(2, 3, 5, 4, generator=torch.Generator().manual_seed(0))
    for k in range(2):
        flat = images[k].mean(dim=(1, 2)).view(3, 1, 1).expand(3, 5, 4)
        assert depthrep.core.distances.flat_distance(images)[k] == pytest.approx(
            float((images[k] - flat).norm()), rel=1e-6
        )
    # no flat image of any colour is closer: the mean minimises the squared distance per channel
    for colour in torch.rand(5, 3, generator=torch.Generator().manual_seed(1)):
        other = colour.view(1, 3, 1, 1).expand_as(images)
        assert (depthrep.input_distance(images, other) >= depthrep.core.distances.flat_distance(images)).all()
    assert depthrep.core.distances.flat_distance(torch.full((1, 3, 4, 4), 0.3)).item() == pytest.approx(
        0, abs=1e-6
    )


def test_colour_matched_distance_ignores_a_global_colour_shift_but_not_structure():
    from depthrep.core.distances import colour_matched_distance, input_distance

    a = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    shifted = a + torch.tensor([0.2, -0.1, 0.05]).view(1, 3, 1, 1)
    assert colour_matched_distance(shifted, a).max() < 1e-5 < input_distance(shifted, a).min()
    flipped = a.flip(-1)
    torch.testing.assert_close(
        colour_matched_distance(flipped, a), input_distance(flipped, a), rtol=1e-4, atol=1e-4
    )
