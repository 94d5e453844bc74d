import pytest
import torch

import depthrep
from depthrep import embed, layers, load_model
from depthrep.core.encoder import Encoder


def assert_close(got, want, tol=1e-4):
    """Equal up to float rounding relative to the tensor's scale (batch norms are folded)."""
    assert got.shape == want.shape
    assert (got - want).abs().max() <= tol * want.abs().max()


def manual_resnet(model, x):
    """The ResNet stages by hand: the oracle for the FX-built encoder."""
    out = {}
    h = model.relu(model.bn1(model.conv1(x)))
    out["conv1_prepool"] = h
    h = model.maxpool(h)
    out["conv1"] = h
    for i in range(1, 5):
        h = getattr(model, f"layer{i}")(h)
        out[f"conv{i + 1}"] = h
    return out


def test_embeddings_equal_a_plain_forward(resnet18, device):
    x = torch.rand(2, 3, 48, 48, device=device)
    got = embed(resnet18, x, layers(resnet18))
    with torch.no_grad():
        want = manual_resnet(resnet18, x)
    assert list(got) == list(want)
    for name in want:
        assert_close(got[name], want[name])


def test_fully_connected_embedding_is_the_matrix_product(device):
    model = load_model("fc7x2-relu", image_size=3, device=device)
    x = torch.rand(4, 3, 3, 3, device=device)
    h1 = torch.relu(x.flatten(1) @ model.fc1.weight.T + model.fc1.bias)
    h2 = torch.relu(h1 @ model.fc2.weight.T + model.fc2.bias)
    got = embed(model, x, ["fc2", "fc1"])
    assert_close(got["fc1"], h1)
    assert_close(got["fc2"], h2)


def test_stage_outputs_are_segment_boundaries(resnet18):
    encoder = Encoder(resnet18, layers(resnet18))
    assert len(encoder.segments) == 6
    assert encoder.deepest_first == layers(resnet18)[::-1]


def test_staged_members_see_only_their_layer(resnet18, device):
    names = ["conv1", "layer2.0.add", "conv5", "layer1.0.relu_1"]  # two are not clean cuts
    encoder = Encoder(resnet18, names)
    order = encoder.deepest_first
    x = torch.rand(2 * len(order), 3, 32, 32, device=device)
    blocks = {name: slice(2 * i, 2 * i + 2) for i, name in enumerate(order)}
    with torch.no_grad():
        staged = encoder.staged(x, blocks)
        full = encoder(x)
    for name, block in blocks.items():
        assert_close(staged[name], full[name][block])


def test_inplace_ops_do_not_corrupt_outputs_or_touch_the_model(resnet18, device):
    # `layer1.0.add` is consumed by an in-place ReLU inside torchvision's block.
    got = embed(resnet18, torch.rand(1, 3, 32, 32, device=device) - 0.5, ["layer1.0.add"])["layer1.0.add"]
    assert (got < 0).any()
    assert resnet18.relu.inplace and resnet18.layer1[0].relu.inplace


def test_normalize_feeds_imagenet_standardised_pixels(resnet18, device):
    x = torch.rand(1, 3, 32, 32, device=device)
    mean = torch.tensor([0.485, 0.456, 0.406], device=device).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], device=device).view(1, 3, 1, 1)
    with torch.no_grad():
        want = resnet18.layer1(
            resnet18.maxpool(resnet18.relu(resnet18.bn1(resnet18.conv1((x - mean) / std))))
        )
    assert_close(embed(resnet18, x, "conv2", normalize=True)["conv2"], want)


@pytest.mark.parametrize("name", ["googlenet", "inception_v3"])
def test_other_families_match_feature_extractor(name):
    from torchvision.models.feature_extraction import create_feature_extractor

    model = load_model(name, device="cpu")
    names = layers(model)
    x = torch.rand(1, 3, 80, 80)
    reference = create_feature_extractor(model, return_nodes=names)
    with torch.no_grad():
        want = reference(x)
    got = embed(model, x, names)
    for n in names:
        assert_close(got[n], want[n])


def test_training_mode_is_refused(device):
    model = load_model("resnet18", device=device).train()
    with pytest.raises(ValueError, match="eval"):
        Encoder(model, "conv2")


def test_encoder_for_builds_once_per_model_and_state():
    import gc
    import weakref

    from depthrep.core.encoder import encoder_for

    model = depthrep.load_model("resnet18")
    first = encoder_for(model, ["conv1", "conv5"])
    assert encoder_for(model, ["conv1", "conv5"]) is first
    assert encoder_for(model, ["conv5"]) is not first  # other layers, another encoder
    x = torch.rand(1, 3, 32, 32)

    other = depthrep.load_model("resnet18", seed=3)
    model.load_state_dict(other.state_dict())  # weights changed in place: the folded copies are stale
    fresh = encoder_for(model, ["conv1", "conv5"])
    assert fresh is not first
    torch.testing.assert_close(fresh(x)["conv5"], Encoder(other, ["conv5"])(x)["conv5"], rtol=1e-4, atol=1e-5)

    model.layer4 = other.layer4  # a replaced module
    assert encoder_for(model, ["conv1", "conv5"]) is not fresh

    model.train()
    with pytest.raises(ValueError, match="training mode"):
        encoder_for(model, ["conv5"])

    alive = weakref.ref(model)
    del model, first, fresh
    gc.collect()
    assert alive() is None  # the cache never keeps a model alive


class Untraceable(torch.nn.Module):
    """Data-dependent control flow: torch.fx cannot trace it."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(4)

    def forward(self, x):
        y = self.bn(self.conv(x))
        return y if y.sum() > 0 else -y


def test_a_failed_trace_leaves_every_module_in_the_mode_it_was():
    import depthrep

    model = Untraceable().eval().requires_grad_(False)
    with pytest.raises(Exception):  # noqa: B017 - whatever the tracer raises, the modes come back
        depthrep.invert(model, torch.rand(1, 3, 8, 8), ["bn"], steps=1, progress=False)
    assert not any(m.training for m in model.modules())
    with pytest.raises(Exception):  # noqa: B017
        depthrep.node_names(model)
    assert not any(m.training for m in model.modules())
    assert not any(p.requires_grad for p in model.parameters())


def test_a_successful_trace_keeps_the_modes_too(resnet18):
    import depthrep

    depthrep.invert(resnet18, torch.rand(1, 3, 32, 32), ["conv2"], steps=1, progress=False)
    assert not any(m.training for m in resnet18.modules())
