"""One inversion at a time, in the background: what the explorer runs, without a widget.

A :class:`Session` runs a job (a :class:`depthrep.core.jobs.Job`, as in a sweep: model, weights,
layers, seed, method, steps; the image given as a tensor) in a thread (or in the caller's),
reports each record and the end to the callables it is given, and stops the run at its next
record when asked.
It keeps the last model it loaded, so that a second run on the same model starts at once.
The explorer (:mod:`depthrep.explorer.widgets`) reads its controls into a job and draws what the
session reports; a script or a test can drive a session alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from depthrep.core.jobs import Job, run_job
from depthrep.core.results import Results
from depthrep.zoo.models import load_model

RECORDS = 40
"""Records per run: how often a view is redrawn (and at least every :data:`STOP_EVERY` steps)."""
STOP_EVERY = 50
"""Most steps between records: a stop takes effect at the next record."""


class Refused(ValueError):
    """A run that cannot start with these settings; the message says what to change."""


class ViewFailed(RuntimeError):
    """A callback failed (drawing a record or the end), not the inversion: the session's
    :attr:`Session.results` keep what the run reached, and ``__cause__`` is the callback's error."""


def record_every(steps: int) -> int:
    """Steps between records of a run of ``steps``: about :data:`RECORDS`, at most :data:`STOP_EVERY`."""
    return max(1, min(steps // RECORDS, STOP_EVERY))


@dataclass(frozen=True)
class Finished:
    """How a run ended: its results, the model it ran on and the seconds it took."""

    job: Job
    target: torch.Tensor
    """``(1, 3, size, size)``: the image inverted (``job.image`` names it)."""
    results: Results
    model: nn.Module
    seconds: float


class Session:
    """Runs jobs one at a time.

    Args:
        device: where models run; ``None``: CUDA when available, else the CPU.
        threaded: run in a background thread (``False``: :meth:`start` returns when the run
            ends, which tests and executed notebooks want).
    """

    def __init__(self, device: str | torch.device | None = None, *, threaded: bool = True):
        self.device, self.threaded = device, threaded
        self.results: Results | None = None
        """The last run's results (while running: the last record)."""
        self._stop = threading.Event()
        self._running = False
        self._thread: threading.Thread | None = None
        self._net: tuple[tuple, nn.Module] | None = None

    @property
    def running(self) -> bool:
        return self._running

    def start(
        self,
        job: Job,
        target: torch.Tensor,
        *,
        on_record: Callable[[Job, int, Results], None] = lambda *_: None,
        on_end: Callable[[Finished], None] = lambda _: None,
        on_error: Callable[[Exception], None] = lambda _: None,
        on_load: Callable[[Job], None] = lambda _: None,
        wait: bool = False,
    ) -> Results | None:
        """Run ``job`` on ``target`` ``(1, 3, size, size)``: ``on_load`` before its model loads,
        ``on_record`` at every record, then ``on_end`` (or ``on_error`` with what went wrong:
        the run's errors never reach the caller's thread; a callback's own error arrives as
        :class:`ViewFailed`, and a failing ``on_record`` ends the run). The callbacks run while
        :attr:`running` is still true, so a run cannot start before they have drawn.

        Returns the results when the run happens in this thread (``wait=True`` or
        ``threaded=False``), else ``None`` at once (see :meth:`wait`).

        Raises:
            Refused: a run is going on already.
        """
        if self._running:
            raise Refused("A run is going on: stop it first.")
        self._stop.clear()
        self.results = None
        self._running = True
        work = (job, target, on_load, on_record, on_end, on_error)
        if wait or not self.threaded:
            self._work(*work)
            return self.results
        self._thread = threading.Thread(target=self._work, args=work, daemon=True, name="depthrep-session")
        self._thread.start()
        return None

    def stop(self) -> None:
        """End the running inversion at its next record; its results so far are kept."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a threaded run ends; ``False`` if it is still running after ``timeout`` s."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not (self._thread is not None and self._thread.is_alive())

    def model(self, job: Job) -> nn.Module:
        """The job's model, loaded once for as long as the next jobs use the same one."""
        key = (job.model, job.weights, job.seed, job.size)
        if self._net is None or self._net[0] != key:
            self._net = None  # free the previous model first
            net = load_model(job.model, job.weights, seed=job.seed, device=self.device, image_size=job.size)
            self._net = (key, net)
        return self._net[1]

    def _work(self, job: Job, target: torch.Tensor, on_load, on_record, on_end, on_error) -> None:
        """The run and its callbacks; :attr:`running` stays true until the last callback returns."""

        def record(step: int, results: Results) -> bool:
            self.results = results
            _call(on_record, f"drawing step {step}", job, step, results)
            return self._stop.is_set()

        try:
            try:
                on_load(job)
                net = self.model(job)
                every = record_every(job.steps)
                done = run_job(job, model=net, image=target, callback=record, record_every=every)
                self.results = done.results
            except Exception as err:  # reported to on_error: a face shows it, never the kernel
                if not isinstance(err, ViewFailed):
                    self.results = None
                on_error(err)
                return
            try:
                finished = Finished(job, target, self.results, net, done.seconds)
                _call(on_end, "drawing the end", finished)
            except ViewFailed as err:
                on_error(err)
        finally:  # also when interrupted (Ctrl-C in a run that blocks): the next run may start
            self._running = False


def _call(callback: Callable, what: str, *args) -> None:
    """``callback(*args)``, its errors raised as :class:`ViewFailed` that say ``what`` failed."""
    try:
        callback(*args)
    except Exception as err:
        raise ViewFailed(f"{what} failed: {type(err).__name__}: {err}") from err
