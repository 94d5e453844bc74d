"""A sweep's merged table: a row per job and layer, from the result files :mod:`depthrep.sweep.cli` wrote.

:func:`merge` reads ``DIR/results/<id>.pt`` for every job of ``DIR/jobs.jsonl`` (checking
each file's digest and that it holds that job) and writes ``DIR/merged.csv`` and
``DIR/merged.json``; it reports the jobs missing, failed or corrupt. A notebook draws its
figures from a merged sweep with :func:`read_table` (the numbers) and :func:`load_results`
(the reconstructions)::

    rows = [r for r in read_table("runs/paper") if r.model == "resnet50"]
    job = load_results("runs/paper", model="resnet50", image="chelsea", seed=0)[0]
    depthrep.show_reconstructions(job.results, depthrep.load_image("chelsea", job.job.size))
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from depthrep.core.jobs import Job, JobResult, failure_path, load_result, read_plan, redo, result_path
from depthrep.errors import CorruptResultError, SweepError
from depthrep.zoo.checkpoints import atomic_write

TABLE = "merged"
"""``DIR/merged.csv`` and ``DIR/merged.json``."""


@dataclass(frozen=True)
class Row:
    """One job at one layer: distances of the first (only) batch member, and their ratios."""

    job: str
    model: str
    weights: str
    image: str
    size: int
    seed: int
    method: str
    steps: int
    layer: str
    m_i: float | None
    """``||a_g - a||``; ``None`` (empty in the CSV) where a distance is not finite."""
    m_g: float | None
    """``||O(a_g) - O(a)||``."""
    m_r: float | None
    """``||O(a') - O(a)||``, the shifted-input reference."""
    shift_distance: float | None
    """``||a' - a||``."""
    flat_distance: float | None
    """``||mean colour - a||``: the ``m_i`` of a flat image of the target's mean colour."""
    target_norm: float | None
    """``||O(a)||``."""
    m_g_over_m_r: float | None
    m_i_over_shift: float | None
    m_i_over_flat: float | None
    relative_m_g: float | None
    """``m_g / ||O(a)||``."""
    relative_m_r: float | None
    psnr: float | None
    """``10 log10(1 / MSE)`` dB with ``MSE = m_i^2 / (3 H W)`` (pixels in [0, 1]); None when m_i is 0
    (:attr:`depthrep.core.results.InversionResult.psnr`)."""
    ssim: float | None
    """SSIM against the target the job inverted (:func:`depthrep.core.scores.ssim`); None where the
    side is below the SSIM window."""
    diverged_at: int | None
    stopped_at: int | None
    """The step the run converged and stopped at (sweeps run every step: ``None``)."""
    device: str
    precision: str


@dataclass(frozen=True)
class Merged:
    """A sweep's table and what it lacks."""

    rows: tuple[Row, ...]
    planned: int
    missing: tuple[str, ...]
    """Job ids with neither a result nor a failure record."""
    failed: Mapping[str, str]
    """``{id: "ErrorType: message"}`` from the failure records."""
    corrupt: Mapping[str, str]
    """``{id: why}`` for result and failure files that are unreadable, do not match their
    digest or hold another job."""

    @property
    def complete(self) -> bool:
        return not (self.missing or self.failed or self.corrupt)


def merge(directory: str | os.PathLike) -> Merged:
    """Read every result of the sweep and write ``DIR/merged.csv`` and ``DIR/merged.json``.

    The CSV holds the rows; the JSON the rows, each job's run (device, hardware, seconds,
    host, versions) and the jobs missing, failed or corrupt. The table holds only what a
    job computed, so the same jobs give the same table bit for bit wherever they ran.
    """
    rows, runs, missing, failed, corrupt = [], {}, [], {}, {}
    jobs = read_plan(directory)
    for job in jobs:
        path, failure = result_path(directory, job), failure_path(directory, job)
        if path.exists():
            try:
                result = load_result(path, job)
            except CorruptResultError as err:
                corrupt[job.id] = str(err)
                continue
            rows += _rows(result)
            runs[job.id] = result.run()
        elif failure.exists():
            try:
                failed[job.id] = _failure(failure, job)
            except SweepError as err:
                corrupt[job.id] = str(err)
        else:
            missing.append(job.id)
    merged = Merged(tuple(rows), len(jobs), tuple(missing), failed, corrupt)
    columns = [f.name for f in dataclasses.fields(Row)]
    table = io.StringIO(newline="")
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(["" if v is None else v for v in dataclasses.astuple(row)] for row in rows)
    report = {"rows": [dataclasses.asdict(row) for row in rows], "planned": len(jobs), "missing": missing,
              "failed": failed, "corrupt": corrupt, "runs": runs}  # fmt: skip
    atomic_write(Path(directory) / f"{TABLE}.csv", lambda tmp: tmp.write_text(table.getvalue()))
    text = json.dumps(report, indent=1, allow_nan=False) + "\n"
    atomic_write(Path(directory) / f"{TABLE}.json", lambda tmp: tmp.write_text(text))
    return merged


def read_table(directory: str | os.PathLike) -> tuple[Row, ...]:
    """The rows of ``DIR/merged.json`` (written by :func:`merge`), for figures drawn from a sweep."""
    path = Path(directory) / f"{TABLE}.json"
    if not path.is_file():
        raise SweepError(
            f"No merged table at {path}: run `python -m depthrep sweep merge {directory}` first."
        )
    return tuple(Row(**row) for row in json.loads(path.read_text())["rows"])


def load_results(directory: str | os.PathLike, **where) -> list[JobResult]:
    """The finished jobs whose settings match ``where`` (``model="resnet50", seed=0``), in plan
    order: their ``.results`` go to :func:`depthrep.show_reconstructions` as a notebook's would."""
    fields = {f.name for f in dataclasses.fields(Job)}
    if set(where) - fields:
        raise SweepError(f"Unknown job settings {sorted(set(where) - fields)}: choose from {sorted(fields)}.")
    chosen = [j for j in read_plan(directory) if all(getattr(j, k) == v for k, v in where.items())]
    return [load_result(result_path(directory, j), j) for j in chosen if result_path(directory, j).exists()]


def _failure(path: Path, job: Job) -> str:
    """The error a failure record names.

    Raises:
        SweepError: the record is unreadable or another job's.
    """
    remedy = redo(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        error, held = record["error"], record["id"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise SweepError(
            f"{path} is not a readable failure record ({type(err).__name__}): {remedy}."
        ) from None
    if held != job.id:
        raise SweepError(f"{path} records the job {held}, not {job.id} (a misplaced file): {remedy}.")
    return str(error)


def _rows(result: JobResult) -> list[Row]:
    job, target = result.job, result.target
    return [
        Row(job=job.id, model=job.model, weights=job.weights, image=job.image, size=job.size, seed=job.seed,
            method=job.method, steps=job.steps, layer=layer, **r.summary(0, target), device=result.device,
            precision=result.precision)
        for layer, r in result.results.items()
    ]  # fmt: skip
