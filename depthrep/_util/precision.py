"""Numeric precision: bfloat16 only where the processor runs it natively.

bfloat16 autocast roughly halves the time of a training step on a CPU with bfloat16
instructions (AVX-512 BF16 or AMX), but a CPU without them (most laptops; AVX2-only
servers) emulates it 15-300 times slower than float32. Every part of depthrep that could
use bfloat16 (training, and ``invert(precision=...)``) asks :func:`choose_precision`, the
one place that decides.

- ``"auto"``: bfloat16 where it is native (:func:`bf16_native`), float32 elsewhere.
- ``"float32"``: always float32.
- ``"bfloat16"``: bfloat16 where native; elsewhere a :class:`PrecisionWarning` and float32.

The environment variable ``DEPTHREP_PRECISION`` (``float32`` or ``bfloat16``) replaces the
``"auto"`` choice, for tests and for users who know their machine better than the probe
does; ``DEPTHREP_PRECISION=bfloat16`` also lets an explicit ``"bfloat16"`` run where the
probe says it is emulated.

``ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2`` make an AVX-512 machine behave as an
AVX2 one, probe included: that is how the slower kind is tested on the faster one.
"""

from __future__ import annotations

import contextlib
import os
import warnings

import torch

from depthrep._util.names import did_you_mean
from depthrep.errors import PrecisionError, PrecisionWarning

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
"""The precisions a run can have, and their dtypes."""
PRECISIONS = ("auto", *DTYPES)
"""What can be asked for: a precision of :data:`DTYPES`, or ``"auto"``."""
ENV = "DEPTHREP_PRECISION"
"""Environment variable that replaces the ``"auto"`` choice: ``float32`` or ``bfloat16``."""
INVERSION = "float32"
"""Default precision of :func:`depthrep.invert`: the book's claims are checked in float32, and
inversion at the book's sizes gains less from bfloat16 than training (``benchmarks/precision.py``)."""
TRAINING = "auto"
"""Default precision of local training (:class:`depthrep.studies.train.TrainConfig`)."""


def bf16_native(device: torch.device | str) -> bool:
    """Whether ``device`` runs bfloat16 natively: a CUDA GPU with bfloat16 arithmetic (not
    emulated), or a CPU with bfloat16 instructions (AVX-512 BF16 or AMX) whose oneDNN uses
    them (``torch.ops.mkldnn._is_mkldnn_bf16_supported()``, which ``ONEDNN_MAX_CPU_ISA`` limits)."""
    device = torch.device(device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            return False
        with torch.cuda.device(device):
            return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        onednn = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
        instructions = [getattr(torch.cpu, f, lambda: False) for f in _BF16_INSTRUCTIONS]
        return bool(onednn()) and any(bool(has()) for has in instructions)
    return False


_BF16_INSTRUCTIONS = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
"""``torch.cpu`` probes of the instruction sets with bfloat16 arithmetic (AVX-512 without
BF16 only converts, so oneDNN emulates the arithmetic there)."""


def check_precision(value: str, valid: tuple[str, ...] = PRECISIONS, what: str = "precision") -> str:
    """``value`` if it is one of ``valid``.

    Raises:
        PrecisionError: it is not; the message lists the valid ones and suggests the nearest.
    """
    if value not in valid:
        raise PrecisionError(
            f"Unknown {what} {value!r}.{did_you_mean(str(value), valid)} Choose one of {', '.join(valid)}."
        )
    return value


def choose_precision(device: torch.device | str, requested: str = "auto") -> str:
    """The precision a run on ``device`` uses: ``"float32"`` or ``"bfloat16"`` (see the module).

    Choosing again on the result gives the same result.

    Raises:
        PrecisionError: ``requested`` or ``$DEPTHREP_PRECISION`` is not a known precision.
    """
    check_precision(requested)
    forced = os.environ.get(ENV, "").strip()
    if forced:
        check_precision(forced, tuple(DTYPES), f"${ENV}")
    if requested == "auto":
        return forced or ("bfloat16" if bf16_native(device) else "float32")
    if requested == "bfloat16" and forced != "bfloat16" and not bf16_native(device):
        warnings.warn(
            f"bfloat16 is not native on {device} ({describe_hardware(device)}): it would be "
            f"emulated, 15-300x slower. Running float32 instead; set {ENV}=bfloat16 to force it.",
            PrecisionWarning,
            stacklevel=3,  # Python's default filter then shows it once per line that asked
        )
        return "float32"
    return requested


def autocast(device: torch.device | str, precision: str) -> contextlib.AbstractContextManager:
    """``torch.autocast`` to bfloat16 for a chosen ``precision == "bfloat16"``, else a no-op."""
    check_precision(precision, tuple(DTYPES))
    if precision == "bfloat16":
        return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def describe_hardware(device: torch.device | str) -> str:
    """What decides the precision on ``device``: ``"AVX512, native bfloat16"`` or ``"AVX2,
    bfloat16 emulated"`` for the CPU, the GPU's name for CUDA."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    native = "native bfloat16" if bf16_native(device) else "bfloat16 emulated"
    return f"{torch.backends.cpu.get_cpu_capability()}, {native}" if device.type == "cpu" else native


def summary(device: torch.device | str) -> str:
    """One line on what ``device`` runs: ``"cpu (AVX512, native bfloat16): inversion float32,
    training bfloat16"``. ``python -m depthrep precision`` prints it (``make test`` does, first)."""
    forced = f"; ${ENV}={os.environ[ENV]}" if os.environ.get(ENV) else ""
    return (
        f"{device} ({describe_hardware(device)}{forced}): inversion {choose_precision(device, INVERSION)}, "
        f"training {choose_precision(device, TRAINING)}"
    )
