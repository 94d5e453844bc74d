"""Work handed to submitit: a Slurm job array, or processes on this machine.

The sweep (:mod:`depthrep.sweep.cli`: shards of a job list) and the book runner (:mod:`depthrep.book.run`:
shards of the chapters) both submit through the executors made here, with the same Slurm
settings and the same errors when submitit or Slurm is missing.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from depthrep.errors import ClusterError

EXECUTORS = ("slurm", "local")
MAX_ARRAY = 1000
"""Most tasks in one Slurm job array (a common ``MaxArraySize``)."""


def submitit_module():
    """The ``submitit`` module, or a :class:`ClusterError` that says how to install it."""
    try:
        import submitit
    except ImportError:
        raise ClusterError(
            "submitting needs submitit, which is not installed: pip install depthrep[cluster]"
        ) from None
    return submitit


def check_executor(executor: str) -> None:
    """Refuse an unknown executor, and ``"slurm"`` where no ``sbatch`` and ``srun`` are on the PATH."""
    if executor not in EXECUTORS:
        raise ClusterError(f"Unknown executor {executor!r}: choose one of {', '.join(EXECUTORS)}.")
    if executor == "slurm" and not (shutil.which("sbatch") and shutil.which("srun")):
        raise ClusterError("--executor slurm finds no sbatch and srun here: submit from the cluster's login "
                           "node, or pass --executor local.")  # fmt: skip


def slurm_settings(pairs: Sequence[str]) -> dict[str, str]:
    """``["account=abc", "constraint=a100"]`` -> ``{"account": "abc", "constraint": "a100"}``."""
    settings = dict(item.split("=", 1) for item in pairs if "=" in item)
    if len(settings) != len(pairs):
        raise ClusterError(f"--slurm takes KEY=VALUE settings, not {list(pairs)}: e.g. --slurm account=abc.")
    return settings


def slurm_executor(
    folder: Path,
    *,
    name: str,
    array_parallelism: int,
    gpus_per_task: int = 1,
    timeout_min: int = 240,
    cpus_per_task: int | None = None,
    mem_gb: float | None = None,
    partition: str | None = None,
    slurm: Mapping[str, str] | None = None,
):
    """A submitit executor for Slurm job arrays, its logs and pickles in ``folder``.

    Args:
        array_parallelism: tasks of one array running at once.
        gpus_per_task: 0 for CPU-only tasks.
        slurm: more sbatch settings, ``{"account": "abc", "constraint": "a100"}``.
    """
    check_executor("slurm")
    cluster = submitit_module().AutoExecutor(folder=folder, cluster="slurm")
    settings = dict(
        name=name, timeout_min=timeout_min, nodes=1, tasks_per_node=1,
        cpus_per_task=cpus_per_task, mem_gb=mem_gb, slurm_partition=partition,
        slurm_gpus_per_task=gpus_per_task or None, slurm_array_parallelism=array_parallelism,
    )  # fmt: skip
    settings.update({f"slurm_{k.replace('-', '_')}": v for k, v in (slurm or {}).items()})
    cluster.update_parameters(**{k: v for k, v in settings.items() if v is not None})
    return cluster


def submit_local(folder: Path, work, calls: Sequence[tuple], gpus_per_task: int = 1, timeout_min: int = 240):
    """``work(*call)`` for each of ``calls``, each in a process of its own on this machine, all
    started at once; task ``i`` sees GPUs ``i * gpus_per_task ...`` (round robin) where CUDA is
    there. Returns submitit's jobs (``.job_id``, ``.result()``); logs in ``folder``."""
    import torch

    local = submitit_module().LocalExecutor(folder)
    gpus = torch.cuda.device_count() if gpus_per_task else 0
    submitted = []
    for index, call in enumerate(calls):
        visible = tuple((index * gpus_per_task + k) % gpus for k in range(gpus_per_task)) if gpus else ()
        local.update_parameters(timeout_min=timeout_min, gpus_per_node=len(visible), visible_gpus=visible)
        submitted.append(local.submit(work, *call))
    return submitted


SLURM_OPTIONS = ("gpus_per_task", "timeout_min", "cpus_per_task", "mem_gb", "partition", "slurm")
"""The settings of a task that :func:`submit_array` takes (those of :func:`slurm_executor`)."""
LOCAL_OPTIONS = ("gpus_per_task", "timeout_min")
"""Those of them that apply to processes on this machine (:func:`submit_local`)."""


def submit_array(executor: str, folder: Path, work, calls: Sequence[tuple], *, name: str,
                 array_parallelism: int, **options) -> list:  # fmt: skip
    """``work(*call)`` for each of ``calls`` through submitit: one Slurm job array
    (:func:`slurm_executor`, ``array_parallelism`` tasks at once), or ``"local"``: one process
    each on this machine (:func:`submit_local`, which takes only :data:`LOCAL_OPTIONS`).
    Returns submitit's jobs; logs and pickles in ``folder``.

    Args:
        options: the task's settings, :data:`SLURM_OPTIONS` (``None``: the default).
    """
    unknown = sorted(set(options) - set(SLURM_OPTIONS))
    if unknown:
        raise TypeError(f"submit_array got {', '.join(unknown)}; it takes {', '.join(SLURM_OPTIONS)}")
    if executor == "local":
        local = {k: options[k] for k in LOCAL_OPTIONS if options.get(k) is not None}
        return submit_local(folder, work, calls, **local)
    cluster = slurm_executor(folder, name=name, array_parallelism=array_parallelism, **options)
    return cluster.map_array(work, *zip(*calls, strict=True))  # one list per argument of work


def add_slurm_options(add) -> None:
    """The Slurm settings of a ``submit`` command line (``add``: a parser's ``add_argument``)."""
    add("--gpus-per-task", type=int, default=1, help="GPUs per task (local: ignored without CUDA)")
    add("--timeout-min", type=int, default=240, help="minutes a task may run")
    add("--cpus-per-task", type=int, help="CPUs per task (slurm)")
    add("--mem-gb", type=float, help="memory per task (slurm)")
    add("--partition", help="Slurm partition")
    add("--slurm", nargs="+", default=[], metavar="KEY=VALUE", help="more sbatch settings: account=abc ...")
