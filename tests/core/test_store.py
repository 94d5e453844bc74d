"""Kept inversions: read back bit for bit when nothing that changes the numbers changed, computed
again when anything did, never trusted when damaged."""

import dataclasses
import importlib
import sys

import pytest
import torch

from depthrep import invert, load_model
from depthrep.core import store
from depthrep.core.store import Store


@pytest.fixture
def log(tmp_path, monkeypatch):
    """The store's log of this test's runs: ``counts()`` gives ``{"computed": n, "read": m}``."""
    path = tmp_path / "log.jsonl"
    monkeypatch.setenv(store.LOG, str(path))
    return lambda: store.count(path)


def run(model, image, folder, **kwargs):
    settings = {"layers": ["conv2", "conv5"], "steps": 6, "seed": 3, **kwargs}
    return invert(model, image, settings.pop("layers"), settings.pop("steps"), store=folder, progress=False,
                  **settings)  # fmt: skip


def same(a, b):
    assert list(a) == list(b)
    for name in a:
        x, y = a[name], b[name]
        for f in dataclasses.fields(x):
            u, v = getattr(x, f.name), getattr(y, f.name)
            if isinstance(u, torch.Tensor):
                assert u.dtype == v.dtype and torch.equal(u, v), (name, f.name)
            elif f.name == "history":
                names = ("step", "input_distance", "embedding_distance")
                assert all(torch.equal(getattr(u, k), getattr(v, k)) for k in names)
            else:
                assert u == v, (name, f.name)


def test_a_run_kept_is_read_back_bit_for_bit(resnet18, device, tmp_path, log):
    images = torch.rand(2, 3, 32, 32, device=device)
    first = run(resnet18, images, tmp_path / "store")
    again = run(resnet18, images, tmp_path / "store")
    assert log() == {"computed": 1, "read": 1}
    same(first, again)
    assert again["conv2"].labels == {"target": (0, 1), "seed": (3, 3)}


CHANGES = {"seed": 4, "steps": 7, "layers": ["conv2"], "method": "paper", "normalize": True, "stop": True}


@pytest.mark.parametrize("change", [*CHANGES, "target", "weights", "pixel scaling"])
def test_anything_that_changes_the_numbers_computes_again(resnet18, hopper32, tmp_path, log, change):
    scaled = {"normalize": True} if change == "pixel scaling" else {}
    run(resnet18, hopper32, tmp_path, **scaled)
    model, image, kwargs = resnet18, hopper32, {change: CHANGES.get(change)}
    if change == "weights":  # one value of one weight differs
        model, kwargs = load_model("resnet18"), {}
        with torch.no_grad():
            model.conv1.weight[0, 0, 0, 0] += 1e-3
    elif change == "target":  # one value of one pixel differs
        image, kwargs = hopper32.clone(), {}
        image[0, 0, 0, 0] = 1 - image[0, 0, 0, 0]
    elif change == "pixel scaling":  # the same weights, said to expect (x - 0.5) / 0.5
        model, kwargs = load_model("resnet18"), scaled
        model.input_mean = model.input_std = (0.5, 0.5, 0.5)
    run(model, image, tmp_path, **kwargs)
    assert log() == {"computed": 2, "read": 0}


def test_a_change_to_the_engines_code_computes_again(resnet18, hopper32, tmp_path, log, monkeypatch):
    run(resnet18, hopper32, tmp_path)
    monkeypatch.setattr(store, "code_digest", lambda module="depthrep.core.invert": "an edited engine")
    run(resnet18, hopper32, tmp_path)
    assert log() == {"computed": 2, "read": 0}


def test_the_code_digest_follows_the_source_of_every_module_imported(tmp_path, monkeypatch):
    package = tmp_path / "enginepkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from .plot import draw\n")
    (package / "engine.py").write_text("from . import helper\nfrom .sub.deep import VALUE\n")
    (package / "helper.py").write_text("X = 1\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "deep.py").write_text("VALUE = 2\n")
    (package / "plot.py").write_text("def draw(): pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    try:
        assert store._imported("enginepkg.engine") == {
            "enginepkg.engine", "enginepkg.helper", "enginepkg.sub", "enginepkg.sub.deep"
        }  # fmt: skip
        before = store.code_digest("enginepkg.engine")
        (package / "plot.py").write_text("def draw(): return 1\n")  # not imported by the engine
        store.code_digest.cache_clear()
        assert store.code_digest("enginepkg.engine") == before
        (package / "sub" / "deep.py").write_text("VALUE = 3\n")
        store.code_digest.cache_clear()
        assert store.code_digest("enginepkg.engine") != before
    finally:
        store.code_digest.cache_clear()
        for name in [n for n in sys.modules if n.startswith("enginepkg")]:
            del sys.modules[name]


def test_the_engines_digest_covers_the_engine_not_the_faces():
    found = store._imported("depthrep.core.invert")
    engine = {"core.invert", "core.methods", "core.encoder", "zoo.models", "core.distances", "core.store"}
    assert {f"depthrep.{name}" for name in engine} <= found
    assert not found & {
        "depthrep.plot",
        "depthrep.book.run",
        "depthrep.explorer.session",
        "depthrep.sweep.cli",
        "depthrep",
    }


@pytest.mark.parametrize("damage", ["truncated", "altered", "foreign"])
def test_a_damaged_entry_is_computed_again_and_replaced(resnet18, hopper32, tmp_path, log, damage):
    first = run(resnet18, hopper32, tmp_path)
    (entry,) = tmp_path.glob("*/*.pt")
    if damage == "truncated":
        entry.write_bytes(entry.read_bytes()[:100])
    elif damage == "altered":  # a valid file whose numbers were changed, its digest not
        payload = torch.load(entry, weights_only=True)
        payload["layers"]["conv5"]["input_distance"] += 1
        torch.save(payload, entry)
    else:
        torch.save({"something": "else"}, entry)
    again = run(resnet18, hopper32, tmp_path)
    assert log() == {"computed": 2, "read": 0}
    same(first, again)
    assert store.kept(Store(tmp_path), entry.stem) is not None  # replaced by a sound entry


def test_fresh_computes_again_and_replaces(resnet18, hopper32, tmp_path, log, monkeypatch):
    run(resnet18, hopper32, tmp_path)
    monkeypatch.setenv(store.FRESH, "1")
    run(resnet18, hopper32, tmp_path)
    monkeypatch.delenv(store.FRESH)
    run(resnet18, hopper32, tmp_path)
    assert log() == {"computed": 2, "read": 1}


def test_the_store_named_by_the_environment_is_used_unless_turned_off(resnet18, hopper32, tmp_path, log,
                                                                       monkeypatch):  # fmt: skip
    monkeypatch.setenv(store.STORE, str(tmp_path))
    run(resnet18, hopper32, None)
    run(resnet18, hopper32, None)
    run(resnet18, hopper32, False)
    assert log() == {"computed": 2, "read": 1}
    assert len(list(tmp_path.glob("*/*.pt"))) == 1


def test_a_run_a_callback_stopped_is_not_kept_and_one_read_back_calls_it_once(
    resnet18, hopper32, tmp_path, log
):
    calls = []
    run(resnet18, hopper32, tmp_path, callback=lambda step, found: True, record_every=2)
    assert not list(tmp_path.glob("*/*.pt"))
    run(resnet18, hopper32, tmp_path, record_every=2)
    found = run(
        resnet18, hopper32, tmp_path, record_every=2, callback=lambda step, r: calls.append((step, r))
    )
    assert log() == {"computed": 2, "read": 1}
    assert len(calls) == 1 and calls[0][0] == 6 and list(calls[0][1]) == list(found)


def test_each_entry_records_where_and_how_it_ran(resnet18, hopper32, tmp_path):
    run(resnet18, hopper32, tmp_path)
    (entry,) = tmp_path.glob("*/*.pt")
    record = torch.load(entry, weights_only=True)["run"]
    assert set(record) == {"device", "hardware", "precision", "threads", "seconds", "host", "versions"}
    assert record["precision"] == "float32" and record["seconds"] > 0 and record["versions"]["torch"]
