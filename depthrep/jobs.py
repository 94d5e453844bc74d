"""A sweep's unit of work: one job inverts one model's layers for one image, seed and budget.

A study is a list of :class:`Job` in ``DIR/jobs.jsonl`` (:func:`plan`, :func:`write_plan`),
each with a stable id made from its settings. :func:`run_job` runs one: the model's layers
go through one batched :func:`depthrep.invert`, as in a notebook. :func:`save_result`
writes what it made to ``DIR/results/<id>.pt`` atomically (the target it inverted included),
with a SHA-256 digest of its contents that :func:`load_result` checks, so a truncated,
altered or misplaced file is caught; a job
that raised leaves ``DIR/results/<id>.failed.json`` instead (:func:`save_failure`).
:mod:`depthrep.sweep` shards, submits and merges them.
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

from .checkpoints import atomic_write
from .divergence import DivergenceWarning
from .errors import DepthrepError, one_line
from .images import load_image, samples
from .invert import Callback, invert
from .labels import run_labels
from .layers import layers as default_layers
from .layers import resolve
from .methods import get_method
from .models import load_model, model_device, weights_problem
from .precision import INVERSION, check_precision, choose_precision
from .results import InversionResult
from .store import FORMAT, decode, digest, encode, host, provenance, versions
from .streams import MAX_SEED

JOBS = "jobs.jsonl"
"""The job list in a sweep folder: one JSON object per line."""
RESULTS = "results"
"""The folder of a sweep that holds ``<id>.pt`` results and ``<id>.failed.json`` records."""


class SweepError(DepthrepError, ValueError):
    """A sweep folder, job list or setting that cannot be used; the message says what to do."""


class CorruptResultError(SweepError):
    """A result file is truncated, altered or not a depthrep sweep result."""


@dataclass(frozen=True)
class Job:
    """One batched inversion: every layer of one model for one image, seed, method and budget."""

    model: str
    weights: str
    layers: tuple[str, ...]
    image: str
    """A sample name (:func:`depthrep.samples`) or an absolute image path."""
    size: int
    seed: int
    """Seeds the random weights, the starting noise and the shifted input."""
    method: str
    steps: int
    precision: str = INVERSION
    """Asked for; the result records the precision that ran (:func:`choose_precision`)."""

    @property
    def id(self) -> str:
        """``resnet50-random-chelsea-299px-seed1-adam-1000steps-<10 hex>``: the same settings, the same id."""
        spec = json.dumps(self.spec(), sort_keys=True, separators=(",", ":"))
        short = hashlib.sha256(spec.encode()).hexdigest()[:10]
        parts = (self.model, self.weights, Path(self.image).stem, f"{self.size}px", f"seed{self.seed}")
        readable = "-".join(re.sub(r"[^A-Za-z0-9_.]+", "_", p) for p in parts)
        return f"{readable}-{self.method}-{self.steps}steps-{short}"

    def spec(self) -> dict:
        """The settings as plain JSON values."""
        return {**dataclasses.asdict(self), "layers": list(self.layers)}

    @classmethod
    def from_spec(cls, spec: dict, where: str = "the job") -> Job:
        """The job that :meth:`spec` described.

        Raises:
            SweepError: missing or unknown keys (the message names them).
        """
        fields = {f.name for f in dataclasses.fields(cls)}
        if set(spec) != fields:
            raise SweepError(
                f"{where} has keys {sorted(spec)}, not {sorted(fields)}: write the job list with "
                "`python -m depthrep sweep plan`."
            )
        kinds = {f.name: int if f.name in ("size", "seed", "steps") else str for f in dataclasses.fields(cls)}
        wrong = [k for k, kind in kinds.items() if k != "layers" and type(spec[k]) is not kind]
        if wrong or not all(isinstance(layer, str) for layer in spec["layers"]):
            raise SweepError(f"{where} has values of the wrong type ({', '.join(wrong) or 'layers'}): write "
                             "the job list with `python -m depthrep sweep plan`.")  # fmt: skip
        return cls(**{**spec, "layers": tuple(spec["layers"])})


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
    """:func:`depthrep.precision.describe_hardware` of the device."""
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
    progress: bool = False,
    callback: Callback | None = None,
    record_every: int | None = None,
    memory_budget: int | None = None,
) -> JobResult:
    """Run one job: every layer of its model in one batched :func:`depthrep.invert`, with the
    provenance of :func:`depthrep.store.provenance`. The one way the command line, the
    explorer's session and the sweep run an inversion.

    A run that diverges is kept, marked in ``InversionResult.diverged_at`` (the warning is
    not raised: each face reports it in its own way).

    Args:
        device: where the model is loaded, when ``model`` is not given.
        model: the job's model, already loaded (the session keeps one between jobs);
            ``None``: loaded here, seeded with ``job.seed``.
        image: ``(1, 3, size, size)`` in [0, 1], the target where it is no file (an upload);
            ``None``: ``job.image`` read at ``job.size``.
        progress, callback, record_every, memory_budget: as in :func:`depthrep.invert`
            (they change how a run is watched or fitted in memory, never its numbers).
    """
    start = time.perf_counter()
    if model is None:
        model = load_model(job.model, job.weights, seed=job.seed, device=device, image_size=job.size)
    device = model_device(model)
    precision = choose_precision(device, job.precision)
    image = load_image(job.image, job.size) if image is None else image
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DivergenceWarning)  # kept in diverged_at
        results = invert(
            model, image, job.layers, job.steps, seed=job.seed, method=job.method, precision=precision,
            progress=progress, callback=callback, record_every=record_every, memory_budget=memory_budget,
        )  # fmt: skip
    run = provenance(device, precision, time.perf_counter() - start)
    return JobResult(job=job, results=results, target=image.cpu(), **run)


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
