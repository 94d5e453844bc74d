import io
import os
import time
import urllib.error
import urllib.request

import pytest
import torch
import torchvision

from depthrep import load_model, model_names
from depthrep.errors import (
    CheckpointError,
    DepthrepError,
    ImageSizeError,
    UnknownModelError,
    WeightsHashWarning,
    WeightsUnavailable,
)
from depthrep.zoo.checkpoints import DOWNLOAD_TIMEOUT, save_checkpoint
from depthrep.zoo.models import (
    MAX_FC_PARAMETERS,
    FullyConnected,
    fc_name,
    fc_parameters,
    min_image_size,
    parse_fc_name,
)


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

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    return tmp_path / "hub" / "checkpoints"


def test_imagenet_weights_come_from_torchvision_cache(offline_hub):
    url = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url
    reference = torchvision.models.resnet18()
    offline_hub.mkdir(parents=True)
    torch.save(reference.state_dict(), offline_hub / url.rsplit("/", 1)[-1])
    # a state dict put there by hand is not the published file: loaded, with a warning that says so
    with pytest.warns(WeightsHashWarning, match=r"does not match the hash in its name \(SHA-256 [0-9a-f]{8}"):
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


class SilentServer(io.BytesIO):
    """A response whose server accepted the connection and then sends nothing."""

    def __init__(self):
        super().__init__()
        self.headers = {"Content-Length": "1000"}

    def read(self, *args):
        raise TimeoutError("The read operation timed out")


def test_a_silent_server_times_out_and_leaves_nothing_behind(offline_hub, monkeypatch):
    asked = {}

    def silent(request, timeout=None):
        asked["timeout"] = timeout
        return SilentServer()

    monkeypatch.setattr(urllib.request, "urlopen", silent)
    url = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url
    target = offline_hub / url.rsplit("/", 1)[-1]
    offline_hub.mkdir(parents=True)
    killed = offline_hub / f"{target.name}.0123456789abcdef0123456789abcdef.partial"  # torch.hub's, kill -9
    killed.touch()
    os.utime(killed, (time.time() - 2 * DOWNLOAD_TIMEOUT,) * 2)
    with pytest.raises(WeightsUnavailable, match="timed out") as err:
        load_model("resnet18", weights="imagenet")
    assert asked["timeout"] == DOWNLOAD_TIMEOUT
    assert url in str(err.value) and str(target) in str(err.value)
    assert list(offline_hub.iterdir()) == []


def _truncated_zip(path):
    torch.save(torchvision.models.resnet18().layer1.state_dict(), path)
    path.write_bytes(path.read_bytes()[:-200])


@pytest.mark.parametrize(
    "write, says",
    [
        (lambda p: p.write_text("<!DOCTYPE html><html>503 Service Unavailable</html>"), "web page"),
        (lambda p: p.write_bytes(b"\x00garbage" * 10), "not a PyTorch weights file"),
        (_truncated_zip, "truncated"),
    ],
    ids=["html", "garbage", "truncated-zip"],
)
def test_a_corrupt_file_in_the_hub_cache_is_named_with_what_to_do(offline_hub, write, says):
    offline_hub.mkdir(parents=True)
    target = offline_hub / torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url.rsplit("/", 1)[-1]
    write(target)
    with pytest.raises(CheckpointError, match=says) as err:
        load_model("resnet18", weights="imagenet", device="cpu")
    assert str(target) in str(err.value) and "Delete it to download it again" in str(err.value)


def test_a_bare_state_dict_under_a_local_name_is_not_a_depthrep_checkpoint(cache):
    path = cache / "resnet18-photos-10steps-seed0-float32-ab12.pt"
    torch.save(torchvision.models.resnet18(num_classes=9).state_dict(), path)
    with pytest.raises(WeightsUnavailable, match="not a depthrep checkpoint") as err:
        load_model("resnet18", weights="local", device="cpu")
    assert str(path) in str(err.value) and "delete it" in str(err.value)


def test_fc_nets_have_no_local_weights():
    with pytest.raises(WeightsUnavailable, match=r"no local weights.*weights='random'"):
        load_model("fc100x2", weights="local")


def test_fc_parameters_counts_what_is_built():
    model = FullyConnected([7, 5, 5], image_size=3)
    assert fc_parameters([7, 5, 5], 3) == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    "name, says",
    [
        ("fc0x4", "every width at least 1"),
        ("fc100x0", "at least one layer"),
        ("fc100000000x4", f"over depthrep's limit of {MAX_FC_PARAMETERS:,}"),
    ],
)
def test_fc_names_that_cannot_be_built_are_refused_before_building(name, says, monkeypatch):
    monkeypatch.setattr(torch.nn, "Linear", lambda *a, **kw: pytest.fail("built a layer"))
    with pytest.raises(UnknownModelError, match=says) as err:
        load_model(name, device="cpu")
    assert name in str(err.value)


@pytest.mark.parametrize(
    "name, weights, size, says",
    [
        ("vit_b_16", "random", 100, "multiples of 16 px, not image_size=100: pass 96 or 112"),
        ("vit_b_16", "imagenet", 64, "224 px inputs only"),
        ("inception_v3", "random", 50, "75 px or more"),
        ("maxvit_t", "random", 100, "224 px or more"),
        ("maxvit_t", "random", 300, "multiples of 224"),
        ("resnet18", "random", 0, "1 px or more"),
        ("fc30x2", "random", 0, "1 px or more"),
    ],
)
def test_image_sizes_the_architecture_cannot_take_are_refused_before_building(
    name, weights, size, says, monkeypatch
):
    monkeypatch.setattr(torchvision.models, "get_model", lambda *a, **kw: pytest.fail("built the model"))
    with pytest.raises(ImageSizeError, match=says) as err:
        load_model(name, weights, image_size=size, device="cpu")
    assert isinstance(err.value, DepthrepError) and isinstance(err.value, ValueError)


@pytest.mark.parametrize(
    "name, smallest", [("alexnet", 63), ("squeezenet1_1", 17), ("googlenet", 15), ("swin_t", 4)]
)
def test_min_image_size_is_the_smallest_input_that_runs(name, smallest):
    assert min_image_size(name) == smallest
    extra = {"aux_logits": False, "init_weights": True} if name == "googlenet" else {}
    with torch.device("meta"):  # shapes alone: no memory, no compute
        model = torchvision.models.get_model(name, **extra).eval()
        model(torch.empty(1, 3, smallest, smallest))
        with pytest.raises(RuntimeError):
            model(torch.empty(1, 3, smallest - 1, smallest - 1))


def test_min_image_size_of_transformers_and_fc_nets():
    assert min_image_size("vit_b_16") == 16 and min_image_size("vit_h_14") == 14
    assert min_image_size("inception_v3") == 75 and min_image_size("fc3000x4") == 1
    load_model("vit_b_32", image_size=32, device="meta")  # one patch a side is enough
    with pytest.raises(UnknownModelError):
        min_image_size("resnet05")


def test_a_hub_file_with_its_published_hash_loads_without_a_warning(tmp_path):
    import hashlib
    import warnings

    from depthrep.zoo.checkpoints import check_hash_prefix

    data = b"weights"
    named = tmp_path / f"net-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    named.write_bytes(data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_hash_prefix(named)
        check_hash_prefix(tmp_path / "unhashed.pth")  # no hash in the name: nothing to check
    named.write_bytes(b"other weights")  # the same name, changed since it was last checked
    with pytest.warns(WeightsHashWarning):
        check_hash_prefix(named)


@pytest.mark.parametrize("name", ["vgg11", "regnet_x_400mf", "fc100x2"])
def test_an_untrained_model_on_meta_has_the_cpu_models_modules_and_shapes(name):
    """Built on "meta" where the builder allows (VGG), on the CPU where it reads values while
    building (RegNet's widths): the same modules and shapes either way, the global RNG untouched."""
    state = torch.random.get_rng_state()
    meta = load_model(name, device="meta")
    assert torch.equal(torch.random.get_rng_state(), state)
    cpu = load_model(name, device="cpu")
    assert all(t.is_meta for t in meta.state_dict().values())
    assert {k: v.shape for k, v in meta.state_dict().items()} == {
        k: v.shape for k, v in cpu.state_dict().items()
    }
