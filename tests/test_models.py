import urllib.error

import pytest
import torch
import torchvision

from depthrep import UnknownModelError, WeightsUnavailable, load_model, model_names
from depthrep.checkpoints import save_checkpoint
from depthrep.models import FullyConnected, fc_name, parse_fc_name


def test_model_is_frozen_in_eval_on_the_asked_device(device):
    model = load_model("resnet18", device=device)
    assert not model.training
    assert not any(p.requires_grad for p in model.parameters())
    assert next(model.parameters()).device.type == device.type


def test_seed_fixes_weights_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    a = load_model("resnet18", seed=0, device="cpu")
    after = torch.rand(3)
    b = load_model("resnet18", seed=0, device="cpu")
    c = load_model("resnet18", seed=1, device="cpu")
    assert torch.equal(before, after)
    assert torch.equal(a.conv1.weight, b.conv1.weight)
    assert not torch.equal(a.conv1.weight, c.conv1.weight)


def test_fc_names_round_trip_and_build():
    assert parse_fc_name("fc3000x2,6000-relu") == ([3000, 3000, 6000], True)
    assert parse_fc_name("resnet18") is None
    assert fc_name([3000, 3000, 6000], relu=True) == "fc3000x2,6000-relu"
    model = load_model("fc20x2,30", image_size=4, device="cpu")
    assert isinstance(model, FullyConnected)
    assert [m.out_features for m in model if isinstance(m, torch.nn.Linear)] == [20, 20, 30]
    assert model.fc1.in_features == 3 * 4 * 4


def test_unknown_model_lists_and_suggests():
    with pytest.raises(UnknownModelError, match="Did you mean 'resnet50'") as err:
        load_model("resnet05")
    assert "vgg16" in str(err.value) and "fc3000x4" in str(err.value)
    assert "resnet152" in model_names()


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """A torch hub cache in tmp_path, and no network: downloads fail as they do offline."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def no_network(url, *args, **kwargs):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    return tmp_path / "hub" / "checkpoints"


def test_imagenet_weights_come_from_torchvision_cache(offline_hub):
    url = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url
    reference = torchvision.models.resnet18()
    offline_hub.mkdir(parents=True)
    torch.save(reference.state_dict(), offline_hub / url.rsplit("/", 1)[-1])
    model = load_model("resnet18", weights="imagenet", device="cpu")
    assert torch.equal(model.layer3[0].conv1.weight, reference.layer3[0].conv1.weight)
    assert not any(p.requires_grad for p in model.parameters())


def test_missing_imagenet_weights_say_where_to_put_the_file(offline_hub):
    with pytest.raises(WeightsUnavailable) as err:
        load_model("resnet50", weights="imagenet")
    message = str(err.value)
    url = torchvision.models.ResNet50_Weights.IMAGENET1K_V1.url  # what the paper's pretrained=True gave
    assert str(offline_hub / url.rsplit("/", 1)[-1]) in message
    assert url in message
    assert not offline_hub.exists() or not any(offline_hub.iterdir())  # nothing half-written


def test_fc_nets_have_no_imagenet_weights():
    with pytest.raises(WeightsUnavailable, match="no ImageNet weights"):
        load_model("fc30x2", weights="imagenet")


def test_weights_from_a_path(tmp_path):
    source = load_model("resnet18", seed=5, device="cpu", num_classes=9)
    save_checkpoint(tmp_path / "w.pt", source.state_dict(), {"note": "test"})
    torch.save(source.state_dict(), tmp_path / "bare.pt")
    for path in (tmp_path / "w.pt", tmp_path / "bare.pt"):
        model = load_model("resnet18", weights=path, device="cpu", num_classes=9)
        assert torch.equal(model.fc.weight, source.fc.weight)
    with pytest.raises(WeightsUnavailable, match="num_classes"):
        load_model("resnet18", weights=tmp_path / "w.pt", device="cpu")
    with pytest.raises(WeightsUnavailable, match="neither"):
        load_model("resnet18", weights=tmp_path / "absent.pt")
