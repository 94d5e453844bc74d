"""One suite for every device: ``pytest --device cuda`` runs the same tests on a GPU.

Also what the browser tests share (``tests/test_book*.py``): where the built book is, the
Chromium to drive, and :func:`offline`, which blocks every request that is not for a local file;
and :func:`made`, a result of two members with the distances a claim test needs.
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


def made(
    layer,
    m_i,
    m_g=(1.0, 1.0),
    m_r=(2.0, 2.0),
    shift=(1.0, 1.0),
    flat=(5.0, 5.0),
    diverged=(-1, -1),
    curves=None,
):
    """An :class:`~depthrep.InversionResult` of two members (targets 0 and 1, seed 0) with the
    distances given per member and nothing else. ``curves``: ``(m_i, m_g)``, each ``(T, 2)``
    values at steps ``0 .. T-1`` (ending at ``m_i``, ``m_g``); by default two records of the
    end values."""
    from depthrep.core.results import History, InversionResult

    t = lambda v: torch.tensor(v, dtype=torch.float32)  # noqa: E731
    m_i, m_g = t(m_i), t(m_g)
    i_curve, g_curve = (
        (t(curves[0]), t(curves[1])) if curves else (torch.stack([m_i, m_i]), torch.stack([m_g, m_g]))
    )
    return InversionResult(
        layer=layer, image=torch.zeros(2, 3, 4, 4), input_distance=m_i, embedding_distance=m_g,
        reference_distance=t(m_r), shift_distance=t(shift), flat_distance=t(flat),
        target_norm=t((3.0, 3.0)), history=History(torch.arange(len(i_curve)), i_curve, g_curve),
        steps=len(i_curve) - 1, diverged_at=t(diverged).long(), stopped_at=torch.tensor([-1, -1]),
        labels={"target": (0, 1), "seed": (0, 0)},
    )  # fmt: skip


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
