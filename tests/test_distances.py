import torch

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
