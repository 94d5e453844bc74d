"""Paper-scale studies past one machine: a job list, shares of it run anywhere, one merged table.

    python -m depthrep sweep plan --profile paper --models resnet18 resnet50 --out runs/paper
    python -m depthrep sweep run runs/paper --shard 3/16      # or inside a Slurm array: no --shard
    python -m depthrep sweep submit runs/paper --executor slurm --array-parallelism 32
    python -m depthrep sweep merge runs/paper

What lands in the sweep folder ``DIR``:

- ``jobs.jsonl``: the plan, one job per line with its stable id (:mod:`depthrep.core.jobs`);
- ``results/<id>.pt``: a finished job (reconstructions, distances, device, precision,
  versions), written atomically; ``results/<id>.failed.json``: a job that raised;
- ``submitit/``: submitit's pickles and each array task's log;
- ``merged.csv``, ``merged.json``: the table, a row per job and layer (:mod:`depthrep.sweep.merge`).

Job ``k`` of the plan belongs to shard ``k mod N``. A finished job is skipped, so running a
shard again resumes it; a failed job is retried. Exit status: 0 done; 2 a bad argument;
3 finished, but some jobs failed (``run``) or are missing, failed or corrupt (``merge``).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch

from depthrep._util.cli import ArgumentParser, examples
from depthrep._util.cluster import (
    EXECUTORS,
    MAX_ARRAY,
    add_slurm_options,
    check_executor,
    slurm_settings,
    submit_array,
    submitit_module,
)  # fmt: skip
from depthrep._util.precision import INVERSION, PRECISIONS
from depthrep.core.jobs import (
    Job,
    load_result,
    plan,
    read_plan,
    result_path,
    run_job,
    save_failure,
    save_result,
    write_plan,
)
from depthrep.core.methods import METHODS
from depthrep.errors import CorruptResultError, SweepError, exit_status, one_line
from depthrep.profiles import PROFILES, get_profile
from depthrep.sweep.merge import TABLE, merge

PROG = "depthrep sweep"
INCOMPLETE = 3
"""Exit status when results were written but some jobs failed, are missing or are corrupt."""
"""Most array tasks ``submit`` asks Slurm for by default: its default ``MaxArraySize`` is 1001."""


@dataclass(frozen=True)
class ShardReport:
    """What one share of a sweep did: job ids by outcome."""

    index: int
    count: int
    done: tuple[str, ...]
    skipped: tuple[str, ...]
    """Finished before (a valid result file was there)."""
    failed: tuple[str, ...]
    """Raised; each has a ``results/<id>.failed.json``."""


def shard(jobs: Sequence[Job], index: int, count: int) -> list[Job]:
    """Shard ``index`` of ``count``: jobs ``index, index + count, ...`` (models spread over shards)."""
    if not 0 <= index < count:
        raise SweepError(f"Shard {index}/{count} does not exist: pass I/N with 0 <= I < N.")
    return list(jobs[index::count])


def parse_shard(text: str) -> tuple[int, int]:
    """``"3/16"`` -> ``(3, 16)``."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise SweepError(f"--shard {text!r} is not I/N, e.g. 0/4 (shards count from 0).") from None
    shard([], index, count)
    return index, count


def shard_from_env(environ: Mapping[str, str] = os.environ) -> tuple[int, int] | None:
    """``(index, count)`` of a Slurm array task (``--array=0-99``, ``1-100``, ``0-99:2``), or None."""
    if "SLURM_ARRAY_TASK_ID" not in environ:
        return None
    try:
        low = int(environ.get("SLURM_ARRAY_TASK_MIN", 0))
        step = int(environ.get("SLURM_ARRAY_TASK_STEP", 1))
        high = int(environ.get("SLURM_ARRAY_TASK_MAX", low))
        count = int(environ.get("SLURM_ARRAY_TASK_COUNT", (high - low) // step + 1))
        task = int(environ["SLURM_ARRAY_TASK_ID"])
    except ValueError:
        found = {k: v for k, v in environ.items() if k.startswith("SLURM_ARRAY_TASK_")}
        raise SweepError(f"The Slurm array variables are not integers ({found}): pass --shard I/N.") from None
    if step < 1:
        raise SweepError(f"SLURM_ARRAY_TASK_STEP={step} is below 1: pass --shard I/N.")
    return parse_shard(f"{(task - low) // step}/{count}")


@contextlib.contextmanager
def _threads(count: int):
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_shard(
    directory: str | os.PathLike,
    index: int = 0,
    count: int = 1,
    *,
    device: str | None = None,
    threads: int = 1,
) -> ShardReport:
    """Run the unfinished jobs of shard ``index`` of ``count``, one result file each.

    A job that raises writes ``results/<id>.failed.json`` and the next one starts;
    Ctrl-C or a kill stops the shard and leaves no partial result file.

    Args:
        device: ``None``: CUDA when available, else the CPU.
        threads: CPU threads per job (recorded in each result): the same count gives the
            same numbers bit for bit, whichever process or shard runs the job.
    """
    jobs = shard(read_plan(directory), index, count)
    done, skipped, failed = [], [], []
    with _threads(threads):
        for number, job in enumerate(jobs, 1):
            if _finished(directory, job):
                skipped.append(job.id)
                continue
            print(f"[shard {index}/{count}, job {number}/{len(jobs)}] {job.id}", flush=True)
            start = time.perf_counter()
            try:
                result = run_job(job, device)
            except Exception as err:  # the job's failure, recorded; the shard goes on
                save_failure(directory, job, err, time.perf_counter() - start)
                print(f"  failed: {type(err).__name__}: {one_line(err)}", flush=True)
                failed.append(job.id)
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                continue
            save_result(directory, result)
            done.append(job.id)
    return ShardReport(index, count, tuple(done), tuple(skipped), tuple(failed))


def _finished(directory: str | os.PathLike, job: Job) -> bool:
    """Whether the job's result file is there, sound and that job's."""
    path = result_path(directory, job)
    if not path.exists():
        return False
    try:
        load_result(path, job)
    except CorruptResultError:
        return False  # run again; the new result replaces it
    return True


def submit(
    directory: str | os.PathLike,
    *,
    executor: str = "slurm",
    array_parallelism: int = 4,
    shards: int | None = None,
    device: str | None = None,
    threads: int = 1,
    **options,
) -> list:
    """Submit the sweep's shards through submitit; returns submitit's jobs (``.job_id``, ``.result()``).

    Args:
        executor: ``"slurm"``: one array of ``shards`` tasks (default: one per job, at most
            :data:`MAX_ARRAY`), at most ``array_parallelism`` running at once. ``"local"``:
            ``shards`` processes on this machine (default and at most ``array_parallelism``),
            each on its own GPU when CUDA is there.
        options: each task's settings, :data:`depthrep._util.cluster.SLURM_OPTIONS`:
            ``gpus_per_task`` (1), ``timeout_min`` (240), ``cpus_per_task``, ``mem_gb``,
            ``partition`` and ``slurm``, more sbatch settings (``{"account": "abc"}``); for
            ``"local"``, only ``gpus_per_task`` and ``timeout_min``.

    Raises:
        TypeError: a setting not among them.
        ClusterError: submitit is not installed (``pip install depthrep[cluster]``), or no Slurm here.
        SweepError: bad counts, or an empty plan.
    """
    check_executor(executor)
    submitit_module()
    directory = Path(directory).resolve()  # the workers may start elsewhere
    jobs = read_plan(directory)
    if not jobs:
        raise SweepError(f"The plan in {directory} lists no job: write it again with `plan`.")
    if (shards is not None and shards < 1) or array_parallelism < 1:
        raise SweepError(f"shards ({shards}) and array_parallelism ({array_parallelism}) must be 1 or more.")
    default = min(len(jobs), MAX_ARRAY) if executor == "slurm" else array_parallelism
    count = min(shards or default, len(jobs))
    if executor == "local" and count > array_parallelism:
        raise SweepError(f"The local executor starts every shard at once: pass --shards {array_parallelism} "
                         f"or fewer, or a larger --array-parallelism.")  # fmt: skip
    folder = directory / "submitit"
    # By reference, so that workers import it; `python -m depthrep.sweep.cli` would pickle __main__'s copy.
    work = importlib.import_module("depthrep.sweep.cli").run_shard
    arguments = dict(device=device, threads=threads)
    calls = [(directory, index, count) for index in range(count)]
    return submit_array(executor, folder, partial(work, **arguments), calls, name="depthrep-sweep",
                        array_parallelism=array_parallelism, **options)  # fmt: skip


EXAMPLES = examples(
    "depthrep sweep plan --profile paper --models resnet18 resnet50 \\",
    "    --out runs/paper",
    "depthrep sweep run runs/paper --shard 3/16",
    "depthrep sweep submit runs/paper --executor slurm --array-parallelism 32",
    "depthrep sweep merge runs/paper",
)


def parser() -> ArgumentParser:
    """The command line of ``depthrep sweep``."""
    top = ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0], epilog=EXAMPLES)
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    planning = commands.add_parser("plan", help="write DIR/jobs.jsonl")
    option = planning.add_argument
    option("--profile", choices=list(PROFILES), default="paper", help="sizes not given below come from it")
    option("--models", nargs="+", help="model names (default: the profile's)")
    option("--weights", nargs="+", default=["random"], help="random, imagenet, local or checkpoint files")
    option("--layers", nargs="+", help="layers every model must have (default: each model's own)")
    option("--images", nargs="+", help="samples or image files (default: the profile's)")
    option("--seeds", nargs="+", type=int, help="seeds (default: the profile's)")
    option("--steps", nargs="+", type=int, help="iteration budgets (default: the profile's)")
    option("--methods", nargs="+", choices=list(METHODS), default=["adam"], help="optimiser presets")
    option("--size", type=int, help="image side in pixels (default: the profile's)")
    option("--precision", choices=PRECISIONS, default=INVERSION, help="asked of every job")
    option("--out", type=Path, required=True, help="the sweep folder")

    running = commands.add_parser("run", help="run one shard's unfinished jobs")
    running.add_argument("directory", type=Path, help="the sweep folder")
    running.add_argument(
        "--shard", help="I/N (default: $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT, else 0/1)"
    )

    submitting = commands.add_parser("submit", help="run the shards through submitit")
    option = submitting.add_argument
    option("directory", type=Path, help="the sweep folder")
    option("--executor", choices=EXECUTORS, default="slurm", help="a Slurm job array, or processes here")
    option("--array-parallelism", type=int, default=4, help="shards running at once")
    option("--shards", type=int, help="default: slurm, one per job up to 1000; local, --array-parallelism")
    add_slurm_options(option)
    option("--wait", action="store_true", help="wait for the shards (always, for local)")

    for command in (running, submitting):
        command.add_argument("--device", help="cpu, cuda, ... (default: CUDA when available)")
        command.add_argument("--threads", type=int, default=1, help="CPU threads per job")

    merging = commands.add_parser("merge", help="write DIR/merged.csv and merged.json")
    merging.add_argument("directory", type=Path, help="the sweep folder")
    return top


def main(argv: list[str] | None = None) -> int:
    """``python -m depthrep sweep plan|run|submit|merge ...``; returns the exit status."""
    args = parser().parse_args(argv)
    command = {"plan": _plan, "run": _run, "submit": _submit, "merge": _merge}[args.command]
    return exit_status(
        PROG, lambda: command(args), interrupted="interrupted; finished jobs are kept, run again to resume"
    )


def _plan(args) -> int:
    profile = get_profile(args.profile)
    jobs = plan(
        args.models or profile.models, args.images or profile.images, args.seeds or profile.seeds,
        args.steps or (profile.steps,), size=profile.size if args.size is None else args.size,
        layers=args.layers, weights=args.weights, methods=args.methods, precision=args.precision,
    )  # fmt: skip
    path = write_plan(args.out, jobs)
    print(f"{len(jobs)} jobs in {path}. Next: `python -m depthrep sweep submit {args.out}` (Slurm), or "
          f"`run {args.out} --shard I/N` on each of N machines, then `merge {args.out}`.")  # fmt: skip
    return 0


def _at_least_one(**counts: int | None) -> None:
    """Refuse a count below 1 given on the command line (``None``: not given)."""
    for name, value in counts.items():
        if value is not None and value < 1:
            raise SweepError(f"--{name.replace('_', '-')} {value}: pass 1 or more.")


def _run(args) -> int:
    _at_least_one(threads=args.threads)
    index, count = parse_shard(args.shard) if args.shard else shard_from_env() or (0, 1)
    report = run_shard(args.directory, index, count, device=args.device, threads=args.threads)
    print(_summary(report))
    return INCOMPLETE if report.failed else 0


def _summary(report: ShardReport) -> str:
    failed = f", {len(report.failed)} failed (see results/<id>.failed.json)" if report.failed else ""
    return (f"shard {report.index}/{report.count}: {len(report.done)} done, "
            f"{len(report.skipped)} finished before{failed}")  # fmt: skip


def _submit(args) -> int:
    _at_least_one(threads=args.threads, shards=args.shards, array_parallelism=args.array_parallelism,
                  timeout_min=args.timeout_min, cpus_per_task=args.cpus_per_task)  # fmt: skip
    if args.gpus_per_task < 0:
        raise SweepError(f"--gpus-per-task {args.gpus_per_task}: pass 0 (CPU only) or more.")
    extra = slurm_settings(args.slurm)
    submitted = submit(
        args.directory, executor=args.executor, array_parallelism=args.array_parallelism, shards=args.shards,
        gpus_per_task=args.gpus_per_task, timeout_min=args.timeout_min, cpus_per_task=args.cpus_per_task,
        mem_gb=args.mem_gb, partition=args.partition, slurm=extra, device=args.device, threads=args.threads,
    )  # fmt: skip
    print(f"submitted {len(submitted)} shard(s) ({args.executor}): {', '.join(j.job_id for j in submitted)}; "
          f"logs in {args.directory / 'submitit'}", flush=True)  # fmt: skip
    if args.executor == "slurm" and not args.wait:
        print(f"When they end: `python -m depthrep sweep merge {args.directory}`.")
        return 0
    reports, unfinished = [], 0
    for job in submitted:
        try:
            reports.append(job.result())
        except Exception as err:  # the shard itself died (a timeout, a full disk): its log says why
            unfinished += 1
            print(f"{PROG}: shard job {job.job_id} did not finish ({type(err).__name__}); its log: "
                  f"{job.paths.stderr}", file=sys.stderr)  # fmt: skip
    print("\n".join(map(_summary, reports)))
    return INCOMPLETE if unfinished or any(r.failed for r in reports) else 0


def _merge(args) -> int:
    merged = merge(args.directory)
    done = merged.planned - len(merged.missing) - len(merged.failed) - len(merged.corrupt)
    print(f"{done} of {merged.planned} jobs, {len(merged.rows)} rows: {args.directory / TABLE}.csv and .json")
    for what, ids in (("missing", merged.missing), ("failed", merged.failed), ("corrupt", merged.corrupt)):
        for job in ids:
            reason = f": {ids[job]}" if isinstance(ids, Mapping) else ""
            print(f"{what}: {job}{reason}")
    if not merged.complete:
        print(f"Run the shards again (`run {args.directory} --shard I/N` or `submit`) to redo them.")
    return 0 if merged.complete else INCOMPLETE


if __name__ == "__main__":
    sys.exit(main())
