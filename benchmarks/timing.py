"""How every benchmark times: the device synchronised around a measurement, and a step's cost
with the one-off setup taken out. Imported by the scripts beside it (``python benchmarks/x.py``
puts this folder on the path)."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def sync(device: torch.device | None) -> None:
    """Wait for the device's queued work (CUDA runs asynchronously; the CPU does not)."""
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(work: Callable[[], object], device: torch.device | None = None) -> tuple[float, object]:
    """``(seconds, value)`` of ``work()``, the device synchronised on both sides."""
    sync(device)
    start = time.perf_counter()
    value = work()
    sync(device)
    return time.perf_counter() - start, value


def step_seconds(
    run: Callable[[int], object], steps: int = 6, base: int = 2, device: torch.device | None = None
) -> tuple[float, float]:
    """``(seconds per step, seconds of run(base))`` for ``run(n)``, which runs ``n`` steps: the
    setup cancels in ``(t(steps) - t(base)) / (steps - base)``."""
    short, _ = timed(lambda: run(base), device)
    long, _ = timed(lambda: run(steps), device)
    return (long - short) / (steps - base), short
