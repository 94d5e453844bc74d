"""Numeric precision: bfloat16 only where the processor runs it natively.

bfloat16 autocast roughly halves the time of a training step on a CPU with AVX-512 BF16 or
AMX, but a CPU without them (most laptops; AVX2-only servers) emulates it 15-300 times
slower than float32. Every part of depthrep that could use bfloat16 (training, and
``invert(precision=...)``) asks :func:`choose_precision`, the one place that decides.

- ``"auto"``: bfloat16 where it is native (:func:`bf16_native`), float32 elsewhere. The
  environment variable ``DEPTHREP_PRECISION`` (``float32`` or ``bfloat16``) replaces that
  choice, for tests and for users who know their machine better than the probe does.
- ``"float32"``: always float32.
- ``"bfloat16"``: bfloat16 where native; elsewhere a :class:`PrecisionWarning` and float32.

``ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2`` make an AVX-512 machine behave as an
AVX2 one, probe included: that is how the slower kind is tested on the faster one.
"""

from __future__ import annotations

import contextlib
import os
import warnings

import torch

from .names import did_you_mean

PRECISIONS = ("auto", "float32", "bfloat16")
ENV = "DEPTHREP_PRECISION"
"""Environment variable that replaces the ``"auto"`` choice: ``float32`` or ``bfloat16``."""
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
INVERSION = "float32"
"""Default precision of :func:`depthrep.invert`: the book's claims are checked in float32, and
at the book's sizes bfloat16 saves little there (measured in ``benchmarks/precision.py``)."""
TRAINING = "auto"
"""Default precision of local training (:class:`depthrep.train.TrainConfig`)."""


class PrecisionWarning(UserWarning):
    """bfloat16 was asked for on a device that would only emulate it; float32 ran instead."""


def bf16_native(device: torch.device | str) -> bool:
    """Whether ``device`` runs bfloat16 natively: CUDA with bf16 support, or a CPU whose
    oneDNN has bfloat16 kernels (AVX-512 BF16 or AMX)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        probe = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
        return bool(probe()) if probe is not None else False
    return False


def choose_precision(device: torch.device | str, requested: str = "auto") -> str:
    """The precision a run on ``device`` uses: ``"float32"`` or ``"bfloat16"`` (see the module).

    Raises:
        ValueError: ``requested`` or ``$DEPTHREP_PRECISION`` is not a known precision.
    """
    _check(requested, "precision")
    if requested == "auto":
        forced = os.environ.get(ENV, "").strip()
        if forced and forced != "auto":
            _check(forced, f"${ENV}", PRECISIONS[1:])
            return forced
        return "bfloat16" if bf16_native(device) else "float32"
    if requested == "bfloat16" and not bf16_native(device):
        _warn_emulated(str(torch.device(device)))
        return "float32"
    return requested


def autocast(device: torch.device | str, precision: str) -> contextlib.AbstractContextManager:
    """``torch.autocast`` to bfloat16 for a resolved ``precision == "bfloat16"``, else a no-op."""
    if precision == "bfloat16":
        return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def describe_cpu() -> str:
    """``"AVX512, native bfloat16"`` or ``"AVX2, bfloat16 emulated"``: what decides the CPU's precision."""
    native = "native bfloat16" if bf16_native("cpu") else "bfloat16 emulated"
    return f"{torch.backends.cpu.get_cpu_capability()}, {native}"


def _check(value: str, what: str, valid: tuple[str, ...] = PRECISIONS) -> None:
    if value not in valid:
        raise ValueError(
            f"Unknown {what} {value!r}.{did_you_mean(str(value), valid)} Choose one of {', '.join(valid)}."
        )


def _warn_emulated(device: str) -> None:
    # Python's default filter shows a warning once per calling line: a sweep says it once.
    warnings.warn(
        f"bfloat16 is not native on {device} ({describe_cpu() if device == 'cpu' else 'no bf16 support'}): "
        f"it would be emulated, 15-300x slower. Running float32 instead; set {ENV}=bfloat16 "
        f"with precision='auto' to force it.",
        PrecisionWarning,
        stacklevel=3,
    )


def summary(device: torch.device | str | None = None) -> str:
    """One line on what this machine runs: ``"cpu (AVX512, native bfloat16): inversion float32,
    training bfloat16"``. ``python -m depthrep precision`` prints it (``.ci/run`` does, first)."""
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    hardware = torch.cuda.get_device_name(device) if device.type == "cuda" else describe_cpu()
    forced = f"; ${ENV}={os.environ[ENV]}" if os.environ.get(ENV) else ""
    return (
        f"{device} ({hardware}{forced}): inversion {choose_precision(device, INVERSION)}, "
        f"training {choose_precision(device, TRAINING)}"
    )
