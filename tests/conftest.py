"""One suite for every device: ``pytest --device cuda`` runs the same tests on a GPU."""

import pytest
import torch


def pytest_addoption(parser):
    parser.addoption("--device", default="cpu", help="torch device for the tests: cpu (default) or cuda")


@pytest.fixture(scope="session")
def device(request) -> torch.device:
    device = torch.device(request.config.getoption("--device"))
    if device.type == "cuda" and not torch.cuda.is_available():
        pytest.exit("--device cuda asked for, but CUDA is not available", returncode=2)
    return device


@pytest.fixture(autouse=True, scope="session")
def _threads():
    torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def resnet18(device):
    """An untrained ResNet18; tests must not change it."""
    from depthrep import load_model

    return load_model("resnet18", device=device)


@pytest.fixture(scope="session")
def hopper32():
    from depthrep import load_image

    return load_image("grace_hopper", 32)
