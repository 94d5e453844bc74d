"""Kept results: an inversion computed once is read back, bit for bit, when it is asked for again.

:func:`depthrep.invert` keeps each run's results in a store folder when one is given (its
``store`` argument, else ``$DEPTHREP_STORE``), under a key made from everything that changes
the numbers (:func:`run_key`):

- the model: its class, its module tree as printed, and a digest of every parameter and buffer
  (so random weights are told apart by their values, not by the seed that drew them);
- the targets: a digest of their pixels;
- the settings: layers, steps, seed, method, stop, precision that runs, normalisation, shift;
- the code: a digest of the source of every depthrep module the inversion runs
  (:func:`code_digest`), so a change to the engine is never served results of the old one.

The device is not in the key: results computed on a cluster's GPUs are read on a laptop.
Each entry records where and how it was computed (:func:`provenance`). Entries use the sweep's
layout (:func:`encode`, :func:`decode`, :func:`digest`): a SHA-256 digest of settings and
tensors, checked on every read; an entry that is truncated, altered or of another layout is
computed again and replaced, never trusted.

``$DEPTHREP_FRESH`` set to ``1`` computes every run again and replaces what the store holds.
``$DEPTHREP_STORE_LOG`` names a file that gets one JSON line per run (``"computed"`` or
``"read"``): the notebook runner counts them per chapter.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import importlib.util
import json
import os
import platform
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import torch
from torch import nn

from depthrep.core.results import PER_MEMBER, History, InversionResult
from depthrep.zoo.checkpoints import atomic_write

STORE = "DEPTHREP_STORE"
"""Environment variable: the store folder :func:`depthrep.invert` uses when given none."""
FRESH = "DEPTHREP_FRESH"
"""Environment variable: ``1`` computes every run again and replaces the store's entry."""
LOG = "DEPTHREP_STORE_LOG"
"""Environment variable: a file that gets one JSON line per run, computed or read."""
FORMAT = 4
"""Version of the entries' layout (shared with the sweep's result files); other versions are
not read."""


@dataclass(frozen=True)
class Store:
    """A folder of kept results; ``read=False`` computes every run again and replaces its entry."""

    folder: Path
    read: bool = True

    def __post_init__(self):
        object.__setattr__(self, "folder", Path(self.folder).expanduser())  # a string, or ~, too

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.pt"


def get_store(store: str | os.PathLike | Store | bool | None = None) -> Store | None:
    """The store a run uses: ``store`` itself (a folder or a :class:`Store`), none for
    ``False``, and for ``None`` the folder ``$DEPTHREP_STORE`` names (none when unset or empty),
    read unless ``$DEPTHREP_FRESH`` is ``1``."""
    if store is False:
        return None
    if isinstance(store, Store):
        return store
    fresh = os.environ.get(FRESH, "") == "1"
    if store is None or store is True:
        named = os.environ.get(STORE, "")
        return Store(named, read=not fresh) if named else None
    return Store(store, read=not fresh)


def run_key(model: nn.Module, target: torch.Tensor, settings: Mapping) -> str:
    """The key of one run of :func:`depthrep.invert`: a SHA-256 hex digest of the model
    (:func:`model_digest`), the targets ``(B, 3, H, W)`` (:func:`tensor_digest`), the
    ``settings`` (plain JSON values, dataclasses as dicts) and :func:`code_digest`."""
    described = {
        "model": model_digest(model),
        "target": tensor_digest(target),
        "settings": _plain(dict(settings)),
        "code": code_digest(),
        "format": FORMAT,
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


def model_digest(model: nn.Module) -> str:
    """SHA-256 of the model's class, its printed module tree, its mode, and every parameter and
    buffer (name, dtype, shape, bytes), with the pixel scaling it names
    (:func:`depthrep.zoo.models.input_scaling`)."""
    h = hashlib.sha256()
    kind = type(model)
    h.update(f"{kind.__module__}.{kind.__qualname__}\n{model}\ntraining={model.training}".encode())
    for attribute in ("input_mean", "input_std"):
        h.update(repr(getattr(model, attribute, None)).encode())
    for name, tensor in model.state_dict().items():
        _update(h, name, tensor)
    return h.hexdigest()


def tensor_digest(tensor: torch.Tensor) -> str:
    """SHA-256 of a tensor's dtype, shape and bytes (on the CPU)."""
    h = hashlib.sha256()
    _update(h, "", tensor)
    return h.hexdigest()


@functools.cache
def code_digest(module: str = "depthrep.core.invert") -> str:
    """SHA-256 of the source of ``module`` and of every depthrep module it imports, directly or
    through others (read from their files, found by their ``import`` statements)."""
    h = hashlib.sha256()
    for name in sorted(_imported(module)):
        h.update(f"{name}\n".encode())
        h.update(Path(importlib.util.find_spec(name).origin).read_bytes())
    return h.hexdigest()


def _imported(module: str) -> set[str]:
    """``module`` and the modules of its package it imports, transitively, with the packages
    that hold them (their ``__init__`` runs first), but for the top one: it imports the whole
    package to offer its names, and the engine runs none of them."""
    package = module.split(".")[0]
    found, todo = set(), [module]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found.add(name)
        parent = name.rpartition(".")[0]
        if "." in parent:
            todo.append(parent)
        spec = importlib.util.find_spec(name)
        origin = Path(spec.origin)
        here = name if origin.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(origin.read_text(), str(origin))):
            if isinstance(node, ast.ImportFrom):
                base = importlib.util.resolve_name("." * node.level + (node.module or ""), here) if (
                    node.level) else node.module or ""  # fmt: skip
                todo += [c for c in _candidates(base, [a.name for a in node.names]) if c.startswith(package)]
            elif isinstance(node, ast.Import):
                todo += [a.name for a in node.names if a.name.split(".")[0] == package]
    return found


def _candidates(base: str, names: list[str]) -> list[str]:
    """``from base import names``: each name that is a module of ``base``, and ``base`` itself
    when some name is not (an attribute of it). A package's own ``__init__`` is not counted where
    only its modules are imported."""
    modules = []
    for name in names:
        try:
            if importlib.util.find_spec(f"{base}.{name}") is not None:
                modules.append(f"{base}.{name}")
        except (ImportError, ValueError):  # base is a module, not a package: name is an attribute
            pass
    return modules if len(modules) == len(names) else [base, *modules]


def provenance(device: torch.device | str, precision: str, seconds: float) -> dict:
    """Where and how a result was computed, the same fields everywhere: ``device``,
    ``hardware`` (:func:`depthrep._util.precision.describe_hardware`), ``precision``, ``threads``
    (CPU results are bit-for-bit for a fixed count), ``seconds``, ``host`` (with the Slurm job
    when there is one) and the ``versions`` of Python, torch, torchvision and depthrep."""
    from depthrep._util.precision import describe_hardware

    return {
        "device": str(device), "hardware": describe_hardware(torch.device(device)),
        "precision": precision, "threads": torch.get_num_threads(), "seconds": round(seconds, 3),
        "host": host(), "versions": versions(),
    }  # fmt: skip


def host() -> str:
    """The machine, with the Slurm job when there is one: ``"node12 (Slurm job 4242_7)"``."""
    job = os.environ.get("SLURM_JOB_ID")
    task = os.environ.get("SLURM_ARRAY_TASK_ID")
    slurm = f" (Slurm job {os.environ.get('SLURM_ARRAY_JOB_ID', job)}_{task})" if task else (
        f" (Slurm job {job})" if job else "")  # fmt: skip
    return socket.gethostname() + slurm


def versions() -> dict[str, str]:
    """``python``, ``torch``, ``torchvision`` and ``depthrep`` versions."""

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {
        "python": platform.python_version(),
        **{n: version(n) for n in ("torch", "torchvision", "depthrep")},
    }


def encode(result: InversionResult) -> dict[str, torch.Tensor]:
    """One layer's result as named CPU tensors (:func:`decode` reverses it)."""
    history = result.history
    return {
        **{name: getattr(result, name).detach().cpu() for name in PER_MEMBER},
        "history_step": history.step, "history_input_distance": history.input_distance,
        "history_embedding_distance": history.embedding_distance, "steps": torch.tensor(result.steps),
    }  # fmt: skip


def decode(layer: str, tensors: Mapping[str, torch.Tensor], labels: dict[str, tuple]) -> InversionResult:
    """The result :func:`encode` made ``tensors`` of, its members labelled ``labels``."""
    history = History(
        tensors["history_step"], tensors["history_input_distance"], tensors["history_embedding_distance"]
    )
    return InversionResult(
        layer=layer, **{n: tensors[n] for n in PER_MEMBER}, history=history, steps=int(tensors["steps"]),
        labels=labels,
    )  # fmt: skip


def digest(
    meta: Mapping, layers: Mapping[str, Mapping[str, torch.Tensor]], target: torch.Tensor | None
) -> str:
    """SHA-256 of the settings, the run and every tensor's dtype, shape and bytes."""
    h = hashlib.sha256(json.dumps(meta, sort_keys=True).encode())
    extra = {} if target is None else {"": {"target": target}}
    for layer, tensors in {**layers, **extra}.items():
        for name, tensor in sorted(tensors.items()):
            _update(h, f"{layer}/{name}", tensor)
    return h.hexdigest()


def keep(store: Store, key: str, results: Mapping[str, InversionResult], run: dict) -> Path:
    """Write ``results`` (``{layer: InversionResult}``) under ``key``, atomically, with ``run``
    (:func:`provenance`); returns the entry's path."""
    layers = {name: encode(r) for name, r in results.items()}
    labels = next(iter(results.values())).labels if results else {}
    meta = {"format": FORMAT, "key": key, "labels": {k: list(v) for k, v in labels.items()}, "run": run}
    payload = {**meta, "layers": layers, "digest": digest(meta, layers, None)}
    path = store.path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, lambda tmp: torch.save(payload, tmp))


def kept(store: Store, key: str) -> tuple[dict[str, InversionResult], dict] | None:
    """The results and run record kept under ``key``, or ``None``: none kept, the store is not
    read (``read=False``), or the entry cannot be trusted (unreadable, another layout, another
    key, or not matching its digest), which the next :func:`keep` replaces."""
    path = store.path(key)
    if not store.read or not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        meta = {k: payload[k] for k in ("format", "key", "labels", "run")}
        if (
            meta["format"] != FORMAT
            or meta["key"] != key
            or digest(meta, payload["layers"], None) != payload["digest"]
        ):
            return None
        labels = {k: tuple(v) for k, v in meta["labels"].items()}
        return {name: decode(name, t, labels) for name, t in payload["layers"].items()}, meta["run"]
    except Exception:  # truncated, foreign or damaged: computed again, never trusted
        return None


def through(
    store: Store | None,
    key: Callable[[], str],
    compute: Callable[[], tuple[dict, bool]],
    run: Callable[[float], dict],
) -> tuple[dict[str, InversionResult], bool]:
    """``compute()``'s results, read from ``store`` when it keeps them under ``key()``.

    ``compute`` returns ``(results, complete)``; a complete run is kept with ``run(seconds)``
    (:func:`provenance`) as its record; an incomplete one (a callback stopped it) is not. Each
    run, read or computed, is logged to ``$DEPTHREP_STORE_LOG``. Returns ``(results, read)``.
    """
    start = time.perf_counter()
    k = key() if store is not None else None
    found = kept(store, k) if store is not None else None
    if found is not None:
        _log("read", k, time.perf_counter() - start)
        return found[0], True
    results, complete = compute()
    seconds = time.perf_counter() - start
    if store is not None and complete:
        keep(store, k, results, run(seconds))
    _log("computed", k, seconds)
    return results, False


def _log(event: str, key: str | None, seconds: float) -> None:
    path = os.environ.get(LOG, "")
    if path:
        with open(path, "a") as f:  # one short line per run: appends from one kernel do not interleave
            f.write(json.dumps({"event": event, "key": key, "seconds": round(seconds, 3)}) + "\n")


def count(log: str | os.PathLike) -> dict[str, int]:
    """``{"computed": n, "read": m}``: the runs a :data:`LOG` file recorded (zeros when there is none)."""
    counts = {"computed": 0, "read": 0}
    try:
        lines = Path(log).read_text().splitlines()
    except OSError:
        return counts
    for line in lines:
        try:
            counts[json.loads(line)["event"]] += 1
        except (ValueError, KeyError, TypeError):  # a line cut short by a killed kernel
            continue
    return counts


def _update(h, name: str, tensor: torch.Tensor) -> None:
    tensor = tensor.detach().cpu().contiguous()
    h.update(f"{name}/{tensor.dtype}/{tuple(tensor.shape)}".encode())
    h.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())


def _plain(value):
    """Settings as plain JSON values: dataclasses as dicts, tuples as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"type": type(value).__name__, **_plain(dataclasses.asdict(value))}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"a run setting must be a plain value, not {type(value).__name__}: {value!r}")
