"""Execute the notebooks with papermill, at one profile, and record what they found.

    python -m depthrep book --profile ci [--out build/notebooks] [--jobs 2] [NOTEBOOK ...]

Each notebook in ``notebooks/`` is executed into the output folder (never in place)
with ``-p profile <profile>``. ``summary.json`` beside them records per notebook the
profile, device, wall time, status and every claim check with its measured values. An
executed notebook is kept even when it fails, so its traceback can be read; the error names
the failing cell (its number in the notebook, its ``In [n]`` in the executed copy, its first
line) and the exception. A notebook fails if a cell raises, if a claim does not hold, if it
stopped before its last cell (``sys.exit()``), if it ran at another profile than asked (its
profile cell untagged) or if it reported no claim; a notebook that cannot be read fails alone.
The exit status is 1 if any notebook failed, 2 if ``--out`` is no folder that can be written
(or the notebooks' own), 130 on Ctrl-C, which leaves no half-executed notebook behind.

``--jobs N`` runs N notebooks at once (N kernels in memory), each kernel with its share of
the CPU threads (``OMP_NUM_THREADS``, unless already set). On a small CPU this pays: at the ``ci``
sizes one thread does two thirds of what two do, so two one-thread kernels finish the
set sooner than one two-thread kernel. The notebooks that took longest last time at
the same profile on this machine start first; never run here before, in the order of
``notebooks/seconds.json`` (times measured when they were committed), then reading order. In
a full run with ``--jobs`` above 1, the local models the profile uses and the cache lacks
are trained first, N at a time, and the notebooks that use none take each worker a training
frees (:func:`train_first`, :func:`uses_local_models`).

Inversions are kept in a store (:mod:`depthrep.core.store`; ``--store``, by default ``results/`` in
:func:`depthrep.zoo.checkpoints.cache_dir`): a chapter run again reads the inversions it ran before
instead of computing them, and a chapter whose notebook, profile and depthrep code are all as
at its last successful run into ``--out`` is not run again at all ("up to date"). Each notebook's
line and ``summary.json`` say how many inversions were computed and how many read.
``--fresh`` computes everything again and replaces what the store holds; ``--no-store``
computes everything and keeps nothing (``make test``: the tests exercise the engine).

``--executor slurm`` runs the notebooks as a Slurm job array through submitit, one task per
notebook (``--executor local``: ``--jobs`` processes here), each task recording its notebooks
in ``--out``'s summary and keeping its inversions in the store; with both on a file system
the tasks share, ``make book`` then finds every chapter up to date, and a machine with a copy
of the store executes the chapters computing none of the inversions it holds (:func:`submit`).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path

from filelock import FileLock

from depthrep._util.cli import ArgumentParser, examples
from depthrep._util.cluster import (
    EXECUTORS,
    add_slurm_options,
    check_executor,
    slurm_settings,
    submit_array,
    submitit_module,
)  # fmt: skip
from depthrep.book.report import CLAIMS_MIME, failing, tally
from depthrep.core.store import FRESH, LOG, STORE, Store, code_digest, count
from depthrep.errors import CheckpointError, ClusterError, DepthrepError, one_line
from depthrep.profiles import DEFAULT as DEFAULT_PROFILE
from depthrep.profiles import PROFILES, Profile
from depthrep.zoo.checkpoints import atomic_write, cache_dir, unwritable

PROG = "depthrep book"
NOTEBOOKS = Path("notebooks")
"""The chapters' folder, in the working directory (the repository root, where ``make book`` runs the
runner): :func:`chapters` finds it when the runner runs, not when this module is imported."""
DURATIONS = "notebook-seconds.json"
"""File in :func:`depthrep.zoo.checkpoints.cache_dir` with each notebook's last wall time per profile."""
EXPECTED = "seconds.json"
"""File beside the notebooks with the wall times per profile measured when they were last changed
(a copy of a run's :data:`DURATIONS`): the order of a first run on a machine that remembers none."""


CACHE_VARIABLES = ("DEPTHREP_CACHE", "XDG_CACHE_HOME", "TORCH_HOME")
"""Where trained and downloaded weights are kept (:func:`depthrep.zoo.checkpoints.cache_dir`, torch's hub)."""


@dataclass
class Outcome:
    """What one executed notebook reported."""

    notebook: str
    status: str  # "ok" | "failed"
    seconds: float
    profile: str
    """The profile the notebook reported it ran at (the one asked for, where it reported none)."""
    device: str = ""
    claims: list[dict] = field(default_factory=list)
    error: str = ""
    computed: int = 0
    """Inversions the notebook computed (:mod:`depthrep.core.store`)."""
    read: int = 0
    """Inversions it read from the store."""
    inputs: str = ""
    """:func:`inputs_digest` of the notebook as it ran: unchanged, it is up to date."""
    up_to_date: bool = False
    """Not executed by this run: its copy and counts are those of the run that executed it."""


def chapters(where: Path | None = None) -> Path:
    """The chapters' folder: :data:`NOTEBOOKS` in ``where`` (default: the working directory, as it
    is now), as an absolute path.

    Raises:
        DepthrepError: ``where`` holds no such folder.
    """
    where = Path.cwd() if where is None else Path(where).absolute()
    folder = where / NOTEBOOKS
    if not folder.is_dir():
        raise DepthrepError(
            f"no {NOTEBOOKS}/ folder in {where}: run from the repository root (where `make book` runs), "
            f"or name the notebooks to run, e.g. `{PROG} path/to/{NOTEBOOKS}/*.ipynb`"
        )
    return folder


def notebooks(folder: Path | None = None) -> list[Path]:
    """The notebooks to execute in ``folder`` (default: :func:`chapters`), in reading order (file
    name order; unnumbered ones last)."""
    folder = chapters() if folder is None else folder
    found = [p for p in folder.glob("*.ipynb") if not p.name.startswith(".")]
    return sorted(found, key=reading_order)


def reading_order(notebook: Path) -> tuple[bool, str]:
    """Sort key: numbered notebooks by number, then the others by name."""
    return (not notebook.name[0].isdigit(), notebook.name)


def execute(notebook: Path, out: Path, profile: str, kernel: str = "python3") -> Outcome:
    """Run one notebook with papermill into ``out``; never raises for a notebook error.

    The notebook fails if a cell raises (the error names the cell: :func:`_describe_cell`),
    if a claim does not hold, if it stopped before its last cell (a ``sys.exit()``, which
    papermill takes for a clean end), or if it reported no claim at all.
    """
    import nbformat
    import papermill

    target = out / notebook.name
    # papermill saves after every cell: run into a temporary name and rename once it is done,
    # so an interrupted run leaves the previous notebook (or none), never half of one.
    unfinished = out / f".{notebook.stem}.part.ipynb"
    start = time.perf_counter()
    try:
        given = nbformat.read(notebook, as_version=4).cells  # as given: the cell numbers errors name
    except Exception as err:  # not JSON, not a notebook, unreadable: this notebook's failure alone
        why = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
        return Outcome(notebook.name, "failed", 0.0, profile, error=f"cannot read the notebook: "
                       f"{type(err).__name__}: {why}")  # fmt: skip
    error = ""
    log = out / f".{notebook.stem}.store.jsonl"  # one line per inversion, computed or read
    log.unlink(missing_ok=True)
    try:
        with _environment({LOG: str(log)}):
            papermill.execute_notebook(
                str(notebook), str(unfinished), parameters={"profile": profile}, kernel_name=kernel,
                cwd=str(notebook.parent), progress_bar=False, log_output=False,
            )  # fmt: skip
    except papermill.PapermillExecutionError as err:  # a cell raised: say which
        where = _describe_cell(_source_index(given, err.cell_index), err.exec_count, err.source)
        error = f"{where} raised {_exception_line(err.ename, err.evalue)}"
    except Exception as err:  # the kernel died, or would not start: record it, go on
        error = f"{type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err).strip() else ''}"
    except BaseException:  # Ctrl-C: nothing half-written stays behind
        unfinished.unlink(missing_ok=True)
        # and no traceback of the cell papermill was waiting on, logged by asyncio as this process ends
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)
        raise
    if unfinished.exists():
        os.replace(unfinished, target)
    seconds = time.perf_counter() - start
    counts = count(log)
    log.unlink(missing_ok=True)
    outcome = Outcome(notebook.name, "ok", round(seconds, 1), profile, error=error, **counts,
                      inputs=inputs_digest(notebook, profile))  # fmt: skip
    if target.exists():
        executed = nbformat.read(target, as_version=4).cells
        for cell in executed:
            for output in cell.get("outputs", []):
                report = output.get("data", {}).get(CLAIMS_MIME)
                if report:
                    outcome.device = report["device"]
                    outcome.profile = report.get("profile", profile)
                    outcome.claims.extend(report["claims"])
        if not outcome.error:
            outcome.error = _stopped_early(executed, given)
        if not outcome.error and outcome.profile != profile:
            outcome.error = (
                f"ran at profile {outcome.profile!r}, not {profile!r}: the cell that sets `profile` "
                "must be tagged `parameters`, and the notebook must pass it to depthrep.book.start(profile)"
            )
    if not outcome.error and not outcome.claims:
        outcome.error = NO_CLAIMS
    if outcome.error or any(failing(c) for c in outcome.claims):
        outcome.status = "failed"
    return outcome


NO_CLAIMS = "reported no claim: a chapter must end with depthrep.book.check(run, claims)"


def _describe_cell(index: int, exec_count: int | None, source: str) -> str:
    """``"cell 3 (In [4]) `x = f(y)`"``: the cell's index in the notebook as given
    (counting from 0), its execution count in the executed copy, and its first line."""
    lines = source.strip().splitlines()
    first = lines[0] if lines else ""
    if len(first) > 60 or len(lines) > 1:
        first = f"{first[:60]} ..."
    count = f" (In [{exec_count}])" if exec_count is not None else ""
    return f"cell {index}{count} `{first}`"


def _exception_line(ename: str, evalue: str) -> str:
    """``"ValueError: boom"``: the exception's name and the last line of its message."""
    lines = str(evalue).strip().splitlines()
    return f"{ename}: {lines[-1]}" if lines else ename


def _source_index(source: list, index: int) -> int:
    """papermill's cell ``index`` (in the notebook it ran, its parameters cell injected) as an
    index into ``source``, the cells it was given. papermill inserts that cell after the one
    tagged ``parameters`` (first if none) or replaces one already tagged ``injected-parameters``."""
    tags = [cell.get("metadata", {}).get("tags", []) for cell in source]
    if any("injected-parameters" in t for t in tags):
        return index
    injected = next((i + 1 for i, t in enumerate(tags) if "parameters" in t), 0)
    return index - (index > injected)


def _stopped_early(executed: list, source: list) -> str:
    """Why the executed notebook's cells did not all run ('' if they did).

    papermill marks each cell ``pending`` until it runs, and ends a run without error at a cell
    that raises ``SystemExit`` (``sys.exit()``, or a code of 0): the cells after it keep that mark.
    """
    status = [cell.get("metadata", {}).get("papermill", {}).get("status") for cell in executed]
    pending = [
        i
        for i, cell in enumerate(executed)
        if status[i] == "pending" and cell.cell_type == "code" and cell.source.strip()
    ]
    if not pending:
        return ""
    skipped = _describe_cell(_source_index(source, pending[0]), None, executed[pending[0]].source)
    skipped = f"{skipped} and those after it never ran"
    stops = [i for i in range(pending[0]) if status[i] == "failed"]
    if stops:
        stop = executed[stops[-1]]
        where = _describe_cell(_source_index(source, stops[-1]), stop.get("execution_count"), stop.source)
        errors = [o for o in stop.get("outputs", []) if o.get("output_type") == "error"]
        raised = _exception_line(errors[0]["ename"], errors[0]["evalue"]) if errors else "an error"
        skipped = f"{where} raised {raised}, so {skipped}: remove the exit"
    return f"stopped early: {skipped}; a chapter must run to its claim check"


def run_all(
    profile: str, out: Path, selected: list[Path] | None = None, jobs: int = 1, store: Store | None = None
) -> list[Outcome]:
    """Execute the notebooks (all, or ``selected``), ``jobs`` at a time, and write ``out/summary.json``.

    Running some notebooks again at the profile of the summary already in ``out`` updates
    their entries and keeps the others, so the book's run summary still lists every chapter.
    A full run with ``jobs > 1`` trains the profile's missing local models first, in the same
    ``jobs`` workers: a notebook that uses none starts in the first worker a training frees, one
    that does (:func:`uses_local_models`) once every training is done.

    With a ``store`` that is read, a notebook that passed at its last run into ``out`` with the
    same :func:`inputs_digest` is up to date: its executed copy and summary entry are kept, and
    it does not run. Its inversions are read from ``store`` where it holds them.
    """
    todo, current = _plan(profile, out, selected, store)
    out = out.resolve()
    if jobs > 1:
        todo = longest_first(todo, {**_expected(todo).get(profile, {}), **_durations().get(profile, {})})
    _announce(todo, current, profile, out, store, f"{jobs} at a time")
    outcomes, remembering = list(current), True
    with _environment(kernel_environment(jobs, store)):
        trainings = missing_trainings(profile) if not selected and jobs > 1 and todo else []
        for outcome in _executed(todo, out, profile, jobs, trainings):
            _say(outcome)
            outcomes.append(outcome)
            _record(out, profile, outcome)
            remembering = remembering and _remember(profile, outcome)
    return sorted(outcomes, key=lambda o: reading_order(Path(o.notebook)))


def _plan(profile: str, out: Path, selected: list[Path] | None, store: Store | None):
    """The notebooks to execute into ``out`` and the outcomes of those up to date
    (:func:`_up_to_date`, each recorded in the summary again); a full run starts the summary afresh."""
    out = out.resolve()  # papermill changes the working directory while a notebook runs
    out.mkdir(parents=True, exist_ok=True)
    earlier = _earlier(out / "summary.json", profile)
    if not selected:  # a full run starts the summary afresh
        with _summary_lock(out):
            _write_summary(out, profile, {})
    todo = [notebook.resolve() for notebook in selected or notebooks()]
    current = [o for nb in todo if (o := _up_to_date(nb, out, profile, earlier, store)) is not None]
    for outcome in current:
        _record(out, profile, outcome)
    return [nb for nb in todo if nb.name not in {o.notebook for o in current}], current


def _announce(todo: list[Path], current: list[Outcome], profile: str, out: Path, store: Store | None,
              how: str) -> None:  # fmt: skip
    """The run's first line (what, where, how, the store), then one line per notebook up to date."""
    kept = f"inversions kept in {store.folder}" + ("" if store.read else " (computed afresh)") if store else (
        "no inversion kept")  # fmt: skip
    print(
        f"Executing {len(todo)} notebook(s) at profile {profile!r}, {how}, into {out}; {kept}"
        + (f"; {len(current)} up to date" if current else ""),
        flush=True,
    )
    for outcome in current:
        print(
            f"{outcome.notebook}: up to date, {len(outcome.claims)} claims: {tally(outcome.claims)}",
            flush=True,
        )


def _say(outcome: Outcome) -> None:
    """One executed notebook's line: status, seconds, claims, inversions computed and read."""
    print(
        f"{outcome.notebook}: {outcome.status} in {outcome.seconds:.0f} s, "
        f"{len(outcome.claims)} claims: {tally(outcome.claims)}; "
        f"inversions: {outcome.computed} computed, {outcome.read} read",
        flush=True,
    )
    if outcome.error:
        print(f"    {outcome.error}", flush=True)


def _remember(profile: str, outcome: Outcome) -> bool:
    """Remember the wall time of a notebook that passed and computed its inversions (one that
    stopped early, or read its results, says little of its length); False once that fails."""
    if outcome.status != "ok" or outcome.read:
        return True
    return _remember_duration(profile, outcome)


def submit(
    profile: str,
    out: Path,
    selected: list[Path] | None = None,
    store: Store | None = None,
    *,
    executor: str = "local",
    tasks: int | None = None,
    folder: Path | None = None,
    **slurm,
) -> tuple[list, list[Outcome]]:
    """Execute the notebooks through submitit: ``tasks`` at once, each a share of the chapters.

    Each task executes its notebooks one after the other into ``out`` (a folder that it and
    this process both reach), records them in ``out/summary.json`` as it goes, and keeps its
    inversions in ``store``: with both on a shared file system, any machine then builds the book
    from them, computing no inversion the store holds. Chapters that use local models train them
    in their task (into the model cache, which the tasks should share too).

    Args:
        executor: ``"local"``: ``tasks`` processes here (default 1), each with its share of the
            CPU threads. ``"slurm"``: a job array of ``tasks`` (default: one per notebook).
        folder: submitit's pickles and the tasks' logs (default: ``out/submitit``).
        slurm: each task's settings, :data:`depthrep._util.cluster.SLURM_OPTIONS` (``partition``,
            ``gpus_per_task``, ``timeout_min``, ...); for ``"local"``, only ``gpus_per_task`` and
            ``timeout_min``.

    Returns:
        submitit's jobs (``.job_id``; ``.result()`` is the task's list of :class:`Outcome`), and
        the outcomes of the notebooks that were up to date.

    Raises:
        ClusterError: submitit is not installed, or no Slurm here, or a bad count.
    """
    check_executor(executor)
    submitit_module()
    if tasks is not None and tasks < 1:
        raise ClusterError(f"--jobs {tasks}: pass 1 or more.")
    todo, current = _plan(profile, out, selected, store)
    out = out.resolve()  # the tasks may start elsewhere
    count = min(tasks or (1 if executor == "local" else len(todo)), max(len(todo), 1))
    todo = longest_first(todo, {**_expected(todo).get(profile, {}), **_durations().get(profile, {})})
    _announce(todo, current, profile, out, store, f"in {count} {executor} task(s)")
    if not todo:
        return [], current
    shares = [[str(nb) for nb in todo[i::count]] for i in range(count)]  # longest first, dealt round
    env = kernel_environment(count if executor == "local" else 1, store)  # each task sets it
    # By reference, so that workers import it; `python -m depthrep book` would pickle __main__'s copy.
    work = partial(
        importlib.import_module("depthrep.book.run").run_share, out=str(out), profile=profile, env=env
    )
    folder = Path(folder or out / "submitit").resolve()
    calls = [(share,) for share in shares]
    return submit_array(
        executor, folder, work, calls, name="depthrep-book", array_parallelism=count, **slurm
    ), current


def run_share(notebooks: list[str], out: str, profile: str, env: dict[str, str]) -> list[Outcome]:
    """In a task of :func:`submit`: execute ``notebooks`` one after the other into ``out``, with
    ``env`` set (the kernels' environment), recording each in ``out/summary.json`` as it ends."""
    outcomes = []
    with _environment(env):
        for notebook in notebooks:
            print(f"{Path(notebook).name} ...", flush=True)
            outcome = execute(Path(notebook), Path(out), profile)
            _say(outcome)
            _record(Path(out), profile, outcome)
            outcomes.append(outcome)
    return outcomes


def inputs_digest(notebook: Path, profile: str) -> str:
    """SHA-256 of what an executed notebook follows from: its file, the profile, the source of
    the depthrep package (:func:`depthrep.core.store.code_digest`) and the precision asked for."""
    from depthrep._util.precision import ENV

    h = hashlib.sha256(notebook.read_bytes())
    h.update(f"{profile}\n{code_digest('depthrep')}\n{os.environ.get(ENV, '')}".encode())
    return h.hexdigest()


def _up_to_date(
    notebook: Path, out: Path, profile: str, earlier: dict, store: Store | None
) -> Outcome | None:
    """The outcome recorded for ``notebook`` in ``earlier`` (summary entries of ``out``) when it
    is up to date: ``store`` is read, it passed, its executed copy is there and its inputs are as
    they were (:func:`inputs_digest`); else ``None``."""
    entry = earlier.get(notebook.name)
    if store is None or not store.read or not entry or not (out / notebook.name).is_file():
        return None
    try:
        outcome = Outcome(**entry)
    except TypeError:  # a summary of an older runner
        return None
    try:
        same = outcome.inputs == inputs_digest(notebook, profile)
    except OSError:
        return None
    passed = outcome.status == "ok" and not any(failing(c) for c in outcome.claims)
    return replace(outcome, up_to_date=True) if same and passed else None


def _record(out: Path, profile: str, outcome: Outcome) -> None:
    with _summary_lock(out):  # another runner into the same folder may have written since
        entries = _earlier(out / "summary.json", profile)
        _write_summary(out, profile, {**entries, outcome.notebook: asdict(outcome)})


def _summary_lock(out: Path) -> FileLock:
    """Held while ``out/summary.json`` is read and written, by every runner into ``out``."""
    return FileLock(out / ".summary.json.lock")


def _write_summary(out: Path, profile: str, entries: dict[str, dict]) -> None:
    listed = sorted(entries.values(), key=lambda e: reading_order(Path(e["notebook"])))
    text = json.dumps({"profile": profile, "notebooks": listed}, indent=2)
    atomic_write(out / "summary.json", lambda tmp: tmp.write_text(text))


def train_first(profile: str | Profile, jobs: int) -> None:
    """Train the local models the profile's notebooks use and the cache lacks, ``jobs`` at once.

    The notebooks would train them too, but each under a lock the others wait on, one at a time;
    trained here side by side, each in a process with its share of the threads, they are ready
    sooner (:func:`run_all` does this, with the notebooks that need none beside the last ones). A
    training that fails, or whose process dies, is left to the notebook that needs it, to report.
    """
    for _ in _scheduled(missing_trainings(profile), [], jobs, run=None):
        pass


def missing_trainings(profile: str | Profile) -> list:
    """The profile's local trainings (:func:`depthrep.studies.train.profile_trainings`) the cache lacks,
    largest first, so no long run starts last beside an idle worker (a cold ci run: 1496 ->
    ~1409 s expected from the measured times of each model; the judge had run alone at the end)."""
    from depthrep.profiles import get_profile
    from depthrep.studies.train import is_trained, profile_trainings

    try:
        missing = [c for c in profile_trainings(get_profile(profile)) if not is_trained(c)]
    except CheckpointError as err:  # no cache folder to be had: each notebook that needs one says so
        print(f"Not training first: {err}", flush=True)
        return []
    return sorted(missing, key=lambda c: c.pixels_seen, reverse=True)


LOCAL_MODEL_CALLS = ("trained_models(", "world_models(", "world_judge(", "ensure_trained(")
"""Calls by which a notebook's code uses the local models (:mod:`depthrep.studies.train`)."""


def uses_local_models(notebook: Path) -> bool:
    """Whether ``notebook``'s code calls for local models (:data:`LOCAL_MODEL_CALLS`): it then
    starts after the trainings of a full run. Only the order depends on it: a notebook that
    needs a model still in training waits for it (a lock) and is right, only later."""
    try:
        cells = json.loads(notebook.read_text())["cells"]
        code = "".join("".join(c["source"]) for c in cells if c.get("cell_type") == "code")
    except (OSError, ValueError, TypeError, KeyError):  # unreadable: its own run says why
        return False
    return any(call in code for call in LOCAL_MODEL_CALLS)


def _train(config) -> str:
    from depthrep.studies.train import ensure_trained

    try:
        return ensure_trained(config, progress=False).describe()
    except Exception as err:  # the notebook that needs the model trains it again and reports
        what = f"{config.model} on {config.data} (seed {config.seed})"
        return f"training {what} failed: {type(err).__name__}: {err}"


def longest_first(todo: list[Path], seconds: dict[str, float]) -> list[Path]:
    """``todo`` by ``seconds`` (``{notebook name: wall time}``), longest first, so that no long
    notebook starts last and keeps one worker busy alone; unknown ones after, in order."""
    return sorted(todo, key=lambda nb: -seconds.get(nb.name, 0.0))


def _expected(todo: list[Path]) -> dict[str, dict[str, float]]:
    """``{profile: {notebook: seconds}}`` from :data:`EXPECTED` beside the notebooks in ``todo``
    (merged, where they sit in several folders)."""
    expected: dict[str, dict[str, float]] = {}
    for folder in sorted({notebook.parent for notebook in todo}):
        try:
            found = json.loads((folder / EXPECTED).read_text())
            for profile, seconds in found.items():
                expected.setdefault(profile, {}).update({n: float(t) for n, t in seconds.items()})
        except (OSError, ValueError, TypeError, AttributeError):  # a hint only: without it, reading order
            continue
    return expected


def _durations() -> dict[str, dict[str, float]]:
    """``{profile: {notebook: seconds}}`` of the last runs on this machine. Kept in the cache
    folder beside the trained models: it outlives build folders and clean clones."""
    try:
        found = json.loads((cache_dir() / DURATIONS).read_text())
        return {k: {n: float(t) for n, t in v.items()} for k, v in found.items()}
    # none yet, unreadable, or no cache folder to be had (CheckpointError): start afresh
    except (OSError, CheckpointError, ValueError, TypeError, AttributeError):
        return {}


def _remember_duration(profile: str, outcome: Outcome) -> bool:
    """Add ``outcome``'s wall time to :data:`DURATIONS`; False (with one line said) where the
    cache folder cannot be written: the run goes on, the next one only loses this order."""
    durations = _durations()
    durations.setdefault(profile, {})[outcome.notebook] = outcome.seconds
    text = json.dumps(durations, indent=1, sort_keys=True)
    try:
        atomic_write(cache_dir() / DURATIONS, lambda tmp: tmp.write_text(text))
    except (OSError, CheckpointError) as err:
        print(f"warning: wall times not remembered: {_unwritable(err)}", flush=True)
        return False
    return True


def _unwritable(err: OSError | CheckpointError) -> str:
    """Why :data:`DURATIONS` could not be written, naming the folder and what to do."""
    if isinstance(err, CheckpointError):  # checkpoints' own message says both
        return str(err)
    folder = Path(err.filename).parent if err.filename else "the cache folder"  # its temporary file
    return (
        f"cannot write {DURATIONS} in {folder} ({err.strerror or err}): "
        "set DEPTHREP_CACHE to a folder you can write."
    )


def _executed(todo: list[Path], out: Path, profile: str, jobs: int, trainings=()) -> Iterator[Outcome]:
    """Outcomes as the notebooks finish: one after the other, or ``jobs`` at once after the
    ``trainings`` started (:func:`_scheduled`).

    Side by side, each notebook is executed from a process of its own: papermill changes the
    working directory of the process that runs it, which threads would share.
    """
    if jobs <= 1:
        for notebook in todo:
            print(f"{notebook.name} ...", flush=True)
            yield execute(notebook, out, profile)
        return
    yield from _scheduled(trainings, todo, jobs, run=partial(execute, out=out, profile=profile))


def _scheduled(trainings, notebooks: list[Path], jobs: int, run) -> Iterator[Outcome]:
    """``trainings`` then ``notebooks`` (``run(notebook)``), ``jobs`` at a time in worker
    processes: the outcomes of the notebooks as they finish; each training's line is printed.

    A notebook takes the first free worker, in order, unless it uses local models
    (:func:`uses_local_models`): then it waits until no training is left. Trainings run in a
    pool of their own, so one whose process dies (out of memory, say) stops the trainings
    alone: the notebooks that need its model train it again and report.
    """
    trainings, waiting, start = list(trainings), list(notebooks), time.perf_counter()
    training_left = len(trainings)
    held = {nb for nb in waiting if uses_local_models(nb)} if trainings else set()  # read once
    if trainings:
        print(
            f"Training {training_left} local model(s) first, {min(jobs, training_left)} at a time", flush=True
        )
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter per worker, never a fork
    pools = [ProcessPoolExecutor(jobs, mp_context=spawn, initializer=_quiet_when_idle) for _ in range(2)]
    train_pool, notebook_pool = pools
    running: dict = {}  # future: training config, or None for a notebook

    def next_work():
        if trainings:
            config = trainings.pop(0)
            return train_pool.submit(partial(_working, _train), config), config
        for i, notebook in enumerate(waiting):
            if not training_left or notebook not in held:
                return notebook_pool.submit(partial(_working, run), waiting.pop(i)), None
        return None, None

    try:
        while trainings or waiting or running:
            while len(running) < jobs:
                future, config = next_work()
                if future is None:
                    break
                running[future] = config
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                if future not in running:  # a training dropped with its broken pool, just below
                    continue
                config = running.pop(future)
                if config is None:
                    yield future.result()
                    continue
                try:
                    print(f"    {future.result()}", flush=True)
                    training_left -= 1
                except BrokenProcessPool as err:  # the notebooks try again and report
                    print(f"    training stopped: {err}", flush=True)
                    training_left = 0
                    trainings.clear()
                    for other in [f for f, c in running.items() if c is not None]:
                        running.pop(other)
                if not training_left:
                    print(f"Trained in {time.perf_counter() - start:.0f} s", flush=True)
                    train_pool.shutdown(wait=False)  # its workers' memory goes back to the notebooks
    except BaseException:  # Ctrl-C (the workers get it too): start no more work
        for pool in pools:
            pool.shutdown(wait=False, cancel_futures=True)
        raise
    for pool in pools:
        pool.shutdown()


def _quiet_when_idle() -> None:
    """In a worker: Ctrl-C (sent to the whole process group) interrupts the work it is doing,
    which cleans up after itself; a worker with no work left exits quietly instead of printing
    the traceback of its idle wait. A runner started with Ctrl-C ignored (``nohup``, a
    background job) leaves it ignored."""
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, lambda *_: os._exit(130))


def _working(work, item):
    """``work(item)`` in a worker, with Ctrl-C raising ``KeyboardInterrupt`` while it runs."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        return work(item)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return work(item)
    finally:
        _quiet_when_idle()


def kernel_environment(jobs: int, store: Store | None = None) -> dict[str, str]:
    """Environment the kernels are given: no progress bars, each its share of the threads when
    ``jobs`` run at once, the cache folders as absolute paths (the kernels run in the notebooks'
    folder, where a relative one would be another folder than the runner's), and the store of
    inversions (none: none, whatever the caller's environment names)."""
    env = {"TQDM_DISABLE": "1", "PYTHONWARNINGS": os.environ.get("PYTHONWARNINGS", "")}
    for folder in CACHE_VARIABLES:
        if os.environ.get(folder):
            env[folder] = str(Path(os.environ[folder]).resolve())
    if jobs > 1 and "OMP_NUM_THREADS" not in os.environ:
        env["OMP_NUM_THREADS"] = str(max(1, _usable_cpus() // jobs))
    env[STORE] = str(store.folder.resolve()) if store else ""
    env[FRESH] = "1" if store and not store.read else ""
    return env


@contextmanager
def _environment(env: dict[str, str]):
    """``os.environ`` with ``env`` set, as it was after."""
    previous = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in previous.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _usable_cpus() -> int:
    """CPUs this process may run on (a container's or ``taskset``'s limit, not the host's count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _earlier(summary: Path, profile: str) -> dict[str, dict]:
    """``{notebook: entry}`` of an existing summary at ``profile`` (empty: none, or another profile)."""
    try:
        found = json.loads(summary.read_text())
        if found["profile"] != profile:
            return {}
        return {entry["notebook"]: entry for entry in found["notebooks"]}
    except (OSError, ValueError, TypeError, KeyError):  # none, or not a summary: start afresh
        return {}


EXAMPLES = examples(
    "depthrep book --profile ci --jobs 2",
    "depthrep book --profile laptop --out build/notebooks notebooks/03_depth.ipynb",
    "depthrep book --profile paper --executor slurm --partition gpu --wait",
)


def parser() -> ArgumentParser:
    """The command line of ``depthrep book``."""
    top = ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0], epilog=EXAMPLES)
    top.add_argument("--profile", default=DEFAULT_PROFILE, choices=list(PROFILES), help="the sizes the "
                     "notebooks run at, from depthrep.profiles")  # fmt: skip
    top.add_argument("--out", type=Path, default=Path("build/notebooks"), help="folder the executed "
                     "notebooks and summary.json are written to")  # fmt: skip
    top.add_argument("--jobs", type=int, help="notebooks executed at once (default: 1; with --executor: "
                     "tasks, each a share of the notebooks; slurm: one per notebook)")  # fmt: skip
    kept = top.add_mutually_exclusive_group()
    kept.add_argument("--store", type=Path, help="folder that keeps the inversions (default: "
                      "$DEPTHREP_STORE, else results/ in the model cache, $DEPTHREP_CACHE or "
                      "~/.cache/depthrep)")  # fmt: skip
    kept.add_argument("--no-store", action="store_true", help="compute every inversion, keep none")
    top.add_argument(
        "--fresh",
        action="store_true",
        help="compute every inversion and notebook again, replacing the store's",
    )
    top.add_argument("notebooks", nargs="*", type=Path, help="notebooks to run (default: all in notebooks/)")
    cluster = top.add_argument_group(
        "through submitit", "run the notebooks as tasks of a Slurm job array, or as processes here, "
        "into --out and --store on a file system they share (pip install depthrep[cluster])",
    )  # fmt: skip
    cluster.add_argument(
        "--executor", choices=EXECUTORS, help="slurm or local (default: this process's own workers)"
    )
    add_slurm_options(cluster.add_argument)
    cluster.add_argument("--wait", action="store_true", help="wait for the Slurm tasks (always, for local)")
    return top


def main(argv: list[str] | None = None) -> int:
    """``python -m depthrep book [NOTEBOOK ...]``; returns the exit status."""
    cli = parser()
    args = cli.parse_args(argv)
    if args.jobs is not None and args.jobs < 1:
        cli.error("--jobs must be at least 1")
    missing = [str(p) for p in args.notebooks if not p.is_file()]
    if missing:
        cli.error(f"no such notebook: {', '.join(missing)}")
    try:  # the chapters of the working directory, unless named
        sources = {p.resolve().parent for p in args.notebooks} or {chapters().resolve()}
    except DepthrepError as err:
        print(f"{cli.prog}: error: {one_line(err)}", file=sys.stderr)
        return 2
    if args.out.resolve() in sources:
        cli.error(f"--out {args.out} holds the notebooks to run: executed copies would overwrite them")
    unusable = unwritable(args.out)
    if unusable:
        cli.error(f"--out {args.out}: {unusable}; pass a folder the executed notebooks can be written to")
    given = [f"--{k.replace('_', '-')}" for k in ("partition", "slurm", "wait", "cpus_per_task", "mem_gb")
             if getattr(args, k)]  # fmt: skip
    if given and not args.executor:
        cli.error(f"{', '.join(given)} set(s) how submitit runs the notebooks: add --executor slurm")
    if args.no_store and args.fresh:
        cli.error("--fresh replaces what the store holds: it needs a store, not --no-store")
    try:
        folder = args.store or os.environ.get(STORE) or cache_dir() / "results"
        store = None if args.no_store else Store(folder, read=not args.fresh)
    except CheckpointError as err:  # no cache folder to be had
        cli.error(f"{err}; or pass --store DIR, or --no-store")
    if store is not None and (problem := unwritable(store.folder)):
        cli.error(f"--store {store.folder}: {problem}; pass a folder that can be written, or --no-store")
    start = time.perf_counter()
    selected = [p.resolve() for p in args.notebooks] or None
    try:
        if args.executor:
            outcomes = _through_submitit(args, selected, store)
            if outcomes is None:  # submitted to Slurm, not waited for
                return 0
        else:
            outcomes = run_all(args.profile, args.out, selected, args.jobs or 1, store)
    except ClusterError as err:  # no submitit, no Slurm, a bad setting
        print(f"{cli.prog}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"interrupted: the notebooks that finished are in {args.out / 'summary.json'}; "
            "those running left no executed copy",
            file=sys.stderr,
        )
        return 130
    failed = [o.notebook for o in outcomes if o.status != "ok"]
    total = time.perf_counter() - start
    passed = len(outcomes) - len(failed)
    ran = [o for o in outcomes if not o.up_to_date]  # the others' counts are of an earlier run
    computed, read = sum(o.computed for o in ran), sum(o.read for o in ran)
    current = f" ({len(outcomes) - len(ran)} up to date)" if len(ran) < len(outcomes) else ""
    print(
        f"{passed}/{len(outcomes)} notebooks passed{current} in {total:.0f} s; inversions: {computed} "
        f"computed, {read} read; summary in {args.out / 'summary.json'}"
    )
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def _through_submitit(args, selected: list[Path] | None, store: Store | None) -> list[Outcome] | None:
    """``main`` with ``--executor``: the outcomes, as the tasks end; ``None`` for Slurm tasks not
    waited for (how to go on is said)."""
    settings = dict(
        gpus_per_task=args.gpus_per_task, timeout_min=args.timeout_min, cpus_per_task=args.cpus_per_task,
        mem_gb=args.mem_gb, partition=args.partition, slurm=slurm_settings(args.slurm),
    )  # fmt: skip
    jobs, outcomes = submit(args.profile, args.out, selected, store, executor=args.executor, tasks=args.jobs,
                            **settings)  # fmt: skip
    if jobs:
        print(f"submitted {len(jobs)} task(s) ({args.executor}): {', '.join(j.job_id for j in jobs)}; "
              f"logs in {args.out / 'submitit'}", flush=True)  # fmt: skip
    if args.executor == "slurm" and not args.wait:
        print(f"As they end, each chapter is recorded in {args.out / 'summary.json'}; then `python -m "
              f"depthrep book --profile {args.profile} --out {args.out}` (or `make book`) finds them up to "
              "date.")  # fmt: skip
        return None
    for job in jobs:
        try:
            for outcome in job.result():
                _say(outcome)
                outcomes.append(outcome)
                _remember(args.profile, outcome)
        except Exception as err:  # the task itself died (a timeout, a full disk): its log says why
            print(f"task {job.job_id} did not finish ({type(err).__name__}); its log: {job.paths.stderr}",
                  file=sys.stderr)  # fmt: skip
            outcomes.append(Outcome(f"task {job.job_id}", "failed", 0.0, args.profile, error=str(err)[-300:]))
    return sorted(outcomes, key=lambda o: reading_order(Path(o.notebook)))


if __name__ == "__main__":
    sys.exit(main())
