"""The unit of work: one job inverts one model's layers for one target, seed and budget.

A :class:`Job` holds every setting that changes the numbers and has a stable id made from
them. :func:`run_job` runs one, the one way an inversion is run with its provenance: the
command line, the explorer's session, a sweep's worker, and (through :func:`run_on`, for a
model and targets already in memory, named by their digests) the layer picker's grid, the
seed and start sweeps and the judge's reconstructions.

A sweep is a list of jobs in ``DIR/jobs.jsonl`` (:func:`plan`, :func:`write_plan`).
:func:`save_result`
writes what it made to ``DIR/results/<id>.pt`` atomically (the target it inverted included),
with a SHA-256 digest of its contents that :func:`load_result` checks, so a truncated,
altered or misplaced file is caught; a job
that raised leaves ``DIR/results/<id>.failed.json`` instead (:func:`save_failure`).
:mod:`depthrep.sweep.cli` shards, submits and merges them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import re
import time
import traceback
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from depthrep._util.precision import INVERSION, check_precision, choose_precision
from depthrep._util.streams import MAX_SEED
from depthrep.core.invert import Callback, invert
from depthrep.core.labels import run_labels
from depthrep.core.methods import Method, get_method
from depthrep.core.results import InversionResult
from depthrep.core.store import (
    FORMAT,
    decode,
    digest,
    encode,
    host,
    model_digest,
    provenance,
    tensor_digest,
    versions,
)
from depthrep.errors import CorruptResultError, DivergenceWarning, SweepError, one_line
from depthrep.zoo.checkpoints import atomic_write
from depthrep.zoo.images import load_image, samples
from depthrep.zoo.layers import layers as default_layers
from depthrep.zoo.layers import resolve
from depthrep.zoo.models import load_model, model_device, weights_problem

JOBS = "jobs.jsonl"
"""The job list in a sweep folder: one JSON object per line."""
RESULTS = "results"
"""The folder of a sweep that holds ``<id>.pt`` results and ``<id>.failed.json`` records."""
BY_DIGEST = "sha256:"
"""How a job names a target or weights held in memory: ``sha256:`` and 16 hex digits of
:func:`depthrep.core.store.tensor_digest` or :func:`depthrep.core.store.model_digest`."""


@dataclass(frozen=True)
class Job:
    """One batched inversion: every layer of one model for one target, seed, method and budget."""

    model: str
    """A model name (:func:`depthrep.load_model`), or a label for a model held in memory."""
    weights: str
    """As :func:`depthrep.load_model` takes them, or ``sha256:...``: a model in memory, by digest."""
    layers: tuple[str, ...]
    image: str
    """A sample name (:func:`depthrep.samples`), an absolute image path, or ``sha256:...``:
    targets held in memory (a ``(B, 3, H, W)`` tensor), by digest."""
    size: int
    seed: int
    """Seeds the random weights, the starting noise and the shifted input."""
    method: str | Method
    """A preset name (:data:`depthrep.METHODS`) or a :class:`depthrep.Method` with its overrides."""
    steps: int
    precision: str = INVERSION
    """Asked for; the result records the precision that ran (:func:`choose_precision`)."""
    normalize: bool = False
    """Scale pixels as the model's weights expect (``invert(normalize=...)``)."""

    @property
    def id(self) -> str:
        """``resnet50-random-chelsea-299px-seed1-adam-1000steps-<10 hex>``: the same settings, the same id."""
        spec = json.dumps(self.spec(), sort_keys=True, separators=(",", ":"))
        short = hashlib.sha256(spec.encode()).hexdigest()[:10]
        image = self.image.replace(":", "-") if self.image.startswith(BY_DIGEST) else Path(self.image).stem
        weights = "memory" if self.weights.startswith(BY_DIGEST) else self.weights
        parts = (self.model, weights, image, f"{self.size}px", f"seed{self.seed}")
        readable = "-".join(re.sub(r"[^A-Za-z0-9_.]+", "_", p) for p in parts)
        method = self.method if isinstance(self.method, str) else "custom"
        return f"{readable}-{method}-{self.steps}steps-{short}"

    def spec(self) -> dict:
        """The settings as plain JSON values."""
        method = self.method if isinstance(self.method, str) else dataclasses.asdict(self.method)
        return {**dataclasses.asdict(self), "layers": list(self.layers), "method": method}

    @classmethod
    def from_spec(cls, spec: dict, where: str = "the job") -> Job:
        """The job that :meth:`spec` described (a job list written before ``normalize``
        existed reads as ``normalize=False``).

        Raises:
            SweepError: missing or unknown keys, or values of the wrong type (the message names them).
        """
        fields = [f.name for f in dataclasses.fields(cls)]
        spec = {"normalize": False, **spec}
        if set(spec) != set(fields):
            raise SweepError(
                f"{where} has keys {sorted(spec)}, not {sorted(fields)}: write the job list with "
                "`python -m depthrep sweep plan`."
            )
        kinds = {"size": int, "seed": int, "steps": int, "normalize": bool}  # the others are str
        plain = [k for k in fields if k not in ("layers", "method")]  # checked below
        wrong = [k for k in plain if type(spec[k]) is not kinds.get(k, str)]
        layers = spec["layers"]
        if not isinstance(layers, list | tuple) or not all(isinstance(x, str) for x in layers):
            wrong.append("layers")
        method = spec["method"]
        if isinstance(method, dict):
            try:
                method = Method(**{k: tuple(v) if isinstance(v, list) else v for k, v in method.items()})
            except (TypeError, ValueError) as err:
                raise SweepError(f"{where} has a method that is none ({one_line(err)}).") from None
        elif not isinstance(method, str):
            wrong.append("method")
        if wrong:
            raise SweepError(f"{where} has values of the wrong type ({', '.join(wrong)}): write "
                             "the job list with `python -m depthrep sweep plan`.")  # fmt: skip
        return cls(**{**spec, "layers": tuple(spec["layers"]), "method": method})


@dataclass(frozen=True)
class JobResult:
    """What one job made, and where and how it ran."""

    job: Job
    results: dict[str, InversionResult]
    """``{layer: InversionResult}`` in the job's layer order, batch of one (tensors on the CPU)."""
    target: torch.Tensor
    """``(1, 3, H, W)`` in [0, 1]: the image the job inverted, as it read it (scores are
    measured against it, never against the image file as it is later)."""
    device: str
    hardware: str
    """:func:`depthrep._util.precision.describe_hardware` of the device."""
    precision: str
    """The precision that ran: ``"float32"`` or ``"bfloat16"``."""
    threads: int
    """``torch.get_num_threads()`` during the run: CPU results are bit-for-bit for a fixed count."""
    seconds: float
    host: str
    """The machine, with the Slurm job when there was one: ``"node12 (Slurm job 4242_7)"``."""
    versions: dict[str, str]
    """``python``, ``torch``, ``torchvision`` and ``depthrep`` versions."""

    def run(self) -> dict:
        """Everything but the job and the tensors, as plain JSON values."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("job", "results", "target")
        }


def image_source(image: str | os.PathLike) -> str:
    """What a :class:`Job` holds for an image: a sample name as it is, a file as its absolute path."""
    return image if image in samples() else str(Path(image).resolve())


def plan(
    models: Sequence[str],
    images: Sequence[str],
    seeds: Sequence[int],
    steps: Sequence[int],
    *,
    size: int,
    layers: Sequence[str] | None = None,
    weights: Sequence[str] = ("random",),
    methods: Sequence[str] = ("adam",),
    precision: str = INVERSION,
) -> list[Job]:
    """Every (model, weights, image, seed, method, steps) combination, checked before any runs.

    Args:
        layers: layer names every model must have; ``None``: each model's own layers
            (:func:`depthrep.layers`).
        images: sample names or image files (stored as absolute paths, as checkpoint files
            among ``weights`` are).

    Raises:
        SweepError: an empty list, or a seed or budget out of range.
        UnknownModelError, ImageSizeError, UnknownLayerError, ImageError, PrecisionError:
            a name or size that cannot run (the messages list the valid ones).
    """
    for what, values in dict(models=models, images=images, seeds=seeds, steps=steps, weights=weights,
                             methods=methods).items():  # fmt: skip
        if not values:
            raise SweepError(f"No {what} given: pass at least one.")
    if any(not 0 <= s < MAX_SEED for s in seeds) or any(s < 1 for s in steps) or size < 1:
        raise SweepError(f"Seeds must be in [0, 2^27) and steps and size >= 1, not seeds={seeds}, "
                         f"steps={steps}, size={size}.")  # fmt: skip
    check_precision(precision)
    for method in methods:
        get_method(method)
    sources = [image_source(image) for image in images]
    weights = [str(Path(w).resolve()) if Path(w).is_file() else w for w in weights]  # checkpoint files
    for source in sources:
        load_image(source, size)  # a missing or unreadable file fails now, not on the cluster
    names = {}
    for model in models:
        architecture = load_model(model, device="meta", image_size=size)
        for kind in weights:
            why = weights_problem(model, kind)
            if why is not None:
                raise SweepError(f"{model} with weights {kind!r}: {why}.")
        names[model] = tuple(resolve(architecture, layers) if layers else default_layers(architecture))
    lists = (models, weights, sources, seeds, methods, steps)
    grid = itertools.product(*(dict.fromkeys(values) for values in lists))  # each value once
    return [
        Job(model=m, weights=w, layers=names[m], image=i, size=size, seed=s, method=meth, steps=n,
            precision=precision)
        for m, w, i, s, meth, n in grid
    ]  # fmt: skip


def write_plan(directory: str | os.PathLike, jobs: Sequence[Job]) -> Path:
    """Write ``directory/jobs.jsonl``; the same plan again is a no-op.

    Raises:
        SweepError: the folder already holds a different plan (its results would not match).
    """
    path = Path(directory) / JOBS
    text = "".join(json.dumps({"id": job.id, **job.spec()}) + "\n" for job in jobs)
    if path.exists() and path.read_text() != text:
        raise SweepError(
            f"{path} already holds a different plan: pass another --out, or delete {path} "
            f"and {path.parent / RESULTS} to start over."
        )
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def read_plan(directory: str | os.PathLike) -> list[Job]:
    """The jobs of ``directory/jobs.jsonl``, in order.

    Raises:
        SweepError: no job list there, or a line that is not a job or whose id does not
            match its settings (an edited line).
    """
    path = Path(directory) / JOBS
    if not path.is_file():
        raise SweepError(
            f"No job list at {path}: write one with `python -m depthrep sweep plan --out {directory}`."
        )
    jobs = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():  # a blank line (an editor's last newline, say) is no job
            continue
        where = f"{path} line {number}"
        try:
            spec = json.loads(line)
        except json.JSONDecodeError as err:
            raise SweepError(f"{where} is not JSON ({err.msg}): write the list again with `plan`.") from None
        job = Job.from_spec({k: v for k, v in spec.items() if k != "id"}, where)
        if spec.get("id") != job.id:
            raise SweepError(
                f"{where}: its id does not match its settings (edited?): write the list again with `plan`."
            )
        jobs.append(job)
    return jobs


def run_job(
    job: Job,
    device: str | torch.device | None = None,
    *,
    model: nn.Module | None = None,
    image: torch.Tensor | None = None,
    progress: bool | None = False,
    callback: Callback | None = None,
    record_every: int | None = None,
    memory_budget: int | None = None,
    warn: bool = False,
) -> JobResult:
    """Run one job: every layer of its model in one batched :func:`depthrep.invert`, with the
    provenance of :func:`depthrep.core.store.provenance`. The one way an inversion is run.

    A run that diverges is kept, marked in ``InversionResult.diverged_at``; the
    :class:`depthrep.errors.DivergenceWarning` is raised only with ``warn`` (the command line and the
    explorer report it in their own way).

    Args:
        device: where the model is loaded, when ``model`` is not given.
        model: the job's model, already loaded (the session keeps one between jobs; a job
            whose weights are a digest needs it); ``None``: loaded here, seeded with ``job.seed``.
        image: ``(B, 3, H, W)`` in [0, 1], the targets where they are no file (an upload, a
            batch; a job whose image is a digest needs them); ``None``: ``job.image`` read at
            ``job.size``.
        progress, callback, record_every, memory_budget: as in :func:`depthrep.invert`
            (they change how a run is watched or fitted in memory, never its numbers).

    Raises:
        SweepError: a job that names its model or targets by digest without them, or with
            ones of another digest (its id would not say what ran).
    """
    started = time.perf_counter()
    if model is None:
        if job.weights.startswith(BY_DIGEST):
            raise SweepError(f"The job {job.id} holds its model in memory ({job.weights}): pass it as model=")
        model = load_model(job.model, job.weights, seed=job.seed, device=device, image_size=job.size)
    elif job.weights.startswith(BY_DIGEST) and model_reference(model) != job.weights:
        raise SweepError(f"The job {job.id} was made for another model than the one given ({job.weights}).")
    if image is None:
        if job.image.startswith(BY_DIGEST):
            raise SweepError(f"The job {job.id} holds its targets in memory ({job.image}): pass image=")
        image = load_image(job.image, job.size)
    elif job.image.startswith(BY_DIGEST) and tensor_reference(image) != job.image:
        raise SweepError(f"The job {job.id} was made for other targets than the ones given ({job.image}).")
    return _run(job, model=model, image=image, started=started, progress=progress, callback=callback,
                record_every=record_every, memory_budget=memory_budget, warn=warn)  # fmt: skip


def _run(
    job: Job,
    *,
    model: nn.Module,
    image: torch.Tensor,
    started: float,
    progress: bool | None,
    callback: Callback | None,
    record_every: int | None,
    memory_budget: int | None,
    warn: bool,
) -> JobResult:
    """Run ``job`` on the model and targets it was checked against (:func:`run_job`) or made
    from (:func:`run_on`); its seconds count from ``started`` (:func:`time.perf_counter`)."""
    device = model_device(model)
    precision = choose_precision(device, job.precision)
    with warnings.catch_warnings():
        if not warn:
            warnings.simplefilter("ignore", DivergenceWarning)  # kept in diverged_at
        results = invert(
            model, image, job.layers, job.steps, seed=job.seed, method=job.method, normalize=job.normalize,
            precision=precision, progress=progress, callback=callback, record_every=record_every,
            memory_budget=memory_budget,
        )  # fmt: skip
    run = provenance(device, precision, time.perf_counter() - started)
    return JobResult(job=job, results=results, target=image.cpu(), **run)


def tensor_reference(image: torch.Tensor) -> str:
    """How a :class:`Job` names targets held in memory: ``sha256:`` and 16 hex digits."""
    return BY_DIGEST + tensor_digest(image)[:16]


def model_reference(model: nn.Module) -> str:
    """How a :class:`Job` names the weights of a model held in memory: ``sha256:`` and 16 hex digits."""
    return BY_DIGEST + model_digest(model)[:16]


SETTINGS = ("method", "normalize", "precision")
"""Keywords of :func:`depthrep.invert` that a :class:`Job` holds (they change the numbers)."""
WATCH = ("progress", "callback", "record_every", "memory_budget")
"""Keywords of :func:`depthrep.invert` that :func:`run_job` passes on (they never change the numbers)."""


def run_on(
    model: nn.Module,
    image: torch.Tensor,
    layers: str | Sequence[str],
    steps: int,
    *,
    seed: int = 0,
    name: str | None = None,
    weights: str | None = None,
    **invert_kwargs,
) -> JobResult:
    """Run the job of a model and targets already in memory, as :func:`run_job` would, warning
    when a member diverges (the job is made from them, so their digests are not checked again):
    what the seed and start sweeps, the layer picker's grid and the judge's reconstructions run.

    Args:
        image: ``(B, 3, H, W)`` targets in [0, 1], named in the job by their digest.
        name: the model's label in the job; ``None``: its class name.
        weights: the weights' name where the model was loaded by name (``"random"`` with
            ``seed``, ``"imagenet"``, ...); ``None``: the model's digest
            (:func:`model_reference`).
        invert_kwargs: :data:`SETTINGS` (into the job) and :data:`WATCH` (to the run).

    Raises:
        TypeError: a keyword of neither kind.
    """
    started = time.perf_counter()
    unknown = sorted(set(invert_kwargs) - set(SETTINGS) - set(WATCH))
    if unknown:
        raise TypeError(f"run_on() got keywords it does not take: {', '.join(unknown)} "
                        f"(it takes {', '.join(SETTINGS + WATCH)})")  # fmt: skip
    settings = {k: v for k, v in invert_kwargs.items() if k in SETTINGS}
    job = Job(
        model=name or type(model).__name__.lower(), weights=weights or model_reference(model),
        layers=(layers,) if isinstance(layers, str) else tuple(layers), image=tensor_reference(image),
        size=image.shape[-1], seed=seed, method=settings.get("method", "adam"), steps=steps,
        precision=settings.get("precision", INVERSION), normalize=settings.get("normalize", False),
    )  # fmt: skip
    watch = dict.fromkeys(WATCH) | {k: v for k, v in invert_kwargs.items() if k in WATCH}  # invert's defaults
    return _run(job, model=model, image=image, started=started, warn=True, **watch)


def result_path(directory: str | os.PathLike, job: Job) -> Path:
    return Path(directory) / RESULTS / f"{job.id}.pt"


def failure_path(directory: str | os.PathLike, job: Job) -> Path:
    return Path(directory) / RESULTS / f"{job.id}.failed.json"


def save_result(directory: str | os.PathLike, result: JobResult) -> Path:
    """Write ``directory/results/<id>.pt`` atomically (a killed write leaves no file) and
    remove the job's failure record, if an earlier try left one."""
    layers = {name: encode(r) for name, r in result.results.items()}
    meta = {"format": FORMAT, "job": result.job.spec(), "run": result.run()}
    target = result.target.detach().cpu()
    payload = {**meta, "layers": layers, "target": target, "digest": digest(meta, layers, target)}
    path = atomic_write(result_path(directory, result.job), lambda tmp: torch.save(payload, tmp))
    failure_path(directory, result.job).unlink(missing_ok=True)
    return path


def load_result(path: str | os.PathLike, job: Job | None = None) -> JobResult:
    """Read a result file and check its digest, and that it holds ``job`` when one is given.

    Raises:
        CorruptResultError: the file is truncated, altered, no sweep result, or another
            job's; the message says to delete it and run the job's shard again.
    """
    path = Path(path)
    remedy = redo(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        meta = {k: payload[k] for k in ("format", "job", "run")}
        layers = payload["layers"]
        target = payload["target"]
        kept = payload["digest"]
    except Exception as err:  # torch raises several types for truncated or foreign files
        first = str(err).strip().splitlines()[0][:100] if str(err).strip() else ""
        raise CorruptResultError(f"{path} is unreadable ({type(err).__name__}: {first}): {remedy}.") from None
    if meta["format"] != FORMAT:
        raise CorruptResultError(f"{path} has result format {meta['format']}, not {FORMAT}: {remedy}.")
    if digest(meta, layers, target) != kept:
        raise CorruptResultError(f"{path} does not match its SHA-256 digest (altered or damaged): {remedy}.")
    try:
        held = Job.from_spec(meta["job"], str(path))
        results = {name: decode(name, t, run_labels(1, held.seed)) for name, t in layers.items()}
        loaded = JobResult(job=held, results=results, target=target, **meta["run"])
    except (TypeError, KeyError, ValueError) as err:  # a digest-consistent file that no depthrep wrote
        raise CorruptResultError(
            f"{path} is not a depthrep sweep result ({one_line(err)}): {remedy}."
        ) from None
    if job is not None and held != job:
        raise CorruptResultError(
            f"{path} holds the job {held.id}, not {job.id} (a misplaced file): {remedy}."
        )
    return loaded


def redo(path: Path) -> str:
    """What to do about a result or failure file of a sweep that cannot be trusted."""
    return f"delete it and run `python -m depthrep sweep run {path.parent.parent}` again to redo the job"


def save_failure(directory: str | os.PathLike, job: Job, error: BaseException, seconds: float) -> Path:
    """Write ``directory/results/<id>.failed.json``: the error, its traceback, where it ran."""
    record = {
        "id": job.id, "job": job.spec(), "error": f"{type(error).__name__}: {one_line(error)}",
        "traceback": "".join(traceback.format_exception(error)), "seconds": round(seconds, 3),
        "host": host(), "versions": versions(),
    }  # fmt: skip
    text = json.dumps(record, indent=2) + "\n"
    return atomic_write(failure_path(directory, job), lambda tmp: tmp.write_text(text))
