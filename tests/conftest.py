"""One suite for every device: ``pytest --device cuda`` runs the same tests on a GPU.

Also what the browser tests share (``tests/test_book*.py``): where the built book is, the
Chromium to drive, and :func:`offline`, which blocks every request that is not for a local file.
"""

import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
BOOK_HTML = Path(os.environ.get("DEPTHREP_BOOK_HTML", ROOT / "_build" / "html")).resolve()
"""The built book (``make book-html``); ``DEPTHREP_BOOK_HTML`` checks one built elsewhere."""
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_SCHEMES = ("file", "data", "blob", "about")


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
    """Two threads at most; one each where ``pytest -n 2`` (``make unit``) runs two workers on two
    cores: the tests' tiny tensors keep one thread busy, so two workers finish sooner."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    torch.set_num_threads(max(1, min(2, torch.get_num_threads()) // workers))


@pytest.fixture(autouse=True, scope="session")
def _no_store():
    """No store of kept inversions, whatever the environment names: the tests exercise the engine
    (tests of the store pass their own)."""
    from depthrep.core.store import FRESH, LOG, STORE

    with pytest.MonkeyPatch.context() as patch:
        for name in (STORE, FRESH, LOG):
            patch.delenv(name, raising=False)
        yield


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty model cache of the test's own (``$DEPTHREP_CACHE``): trained models, kept
    results and chapter timings written by the test go there, and nowhere else."""
    path = tmp_path / "cache"
    path.mkdir()
    monkeypatch.setenv("DEPTHREP_CACHE", str(path))
    return path


@pytest.fixture(scope="session")
def resnet18(device):
    """An untrained ResNet18; tests must not change it."""
    from depthrep import load_model

    return load_model("resnet18", device=device)


@pytest.fixture(scope="session")
def hopper32():
    from depthrep import load_image

    return load_image("grace_hopper", 32)


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of Debian's Chromium, for Playwright. Missing: skipped with how to install it, or a
    failure where ``DEPTHREP_REQUIRE_BROWSER=1`` (as ``.ci/run`` sets)."""
    path = os.environ.get("DEPTHREP_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    message = None
    if path is None:
        message = "Chromium not found: install it with `apt-get install chromium` to run the browser test"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            message = "Playwright not installed: `pip install -e '.[test]'`"
    if message:
        if os.environ.get("DEPTHREP_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{message} (required: DEPTHREP_REQUIRE_BROWSER=1)")
        pytest.skip(message)
    return path


def offline(tab, problems: list[str]) -> None:
    """Block every request of a Playwright page that is not for a local file, and append to
    ``problems`` each blocked or failed request, console error and uncaught exception."""

    def route(r):
        if urlsplit(r.request.url).scheme in LOCAL_SCHEMES:
            r.continue_()
        else:
            problems.append(f"requested {r.request.url} (not available offline)")
            r.abort()

    tab.route("**/*", route)
    tab.on("console", lambda m: m.type == "error" and problems.append(f"console error: {m.text}"))
    tab.on("pageerror", lambda e: problems.append(f"uncaught exception: {e}"))

    def failed(r):
        if urlsplit(r.url).scheme in LOCAL_SCHEMES:
            problems.append(f"failed to load {r.url}: {r.failure}")

    tab.on("requestfailed", failed)
