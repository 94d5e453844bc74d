"""Random streams: one named stream of random numbers per purpose, for every seed.

Every random draw in depthrep comes from a CPU generator made by :func:`generator` for a
``(seed, stream)`` pair, so a seed means the same numbers on every device, and two purposes
(or two seeds) never share numbers: seed 0's neighbourhood noise is not seed 1's start.
"""

from __future__ import annotations

import operator

import torch

from depthrep.errors import SeedError

STREAMS = ("starts", "shifts", "neighbourhood", "random maps", "phases", "directions", "power iteration")
"""The purposes, in the order of their index: the starting noise of an inversion, the shift
``a' - a``, the neighbourhood of a linear net's target, random linear maps, the phases of a
phase-randomised image, and the random directions and the power iteration's start of
:func:`depthrep.studies.gains.local_gains`."""


MAX_STREAMS = 16
"""Room for streams: indices below it map to distinct generator seeds."""
MAX_SEED = 2**27
"""Seeds ``0 <= seed < MAX_SEED`` map to distinct generator seeds on every stream. The CPU
generator keeps only the low 32 bits of its seed (``manual_seed(2**32 + 5)`` draws what
``manual_seed(5)`` draws), so the pairs must share 2**32 values."""


def generator_seed(seed: int, stream: str | int) -> int:
    """The ``torch.Generator`` seed of one ``(seed, stream)`` pair; distinct for distinct pairs.

    Streams 0 and 1 (starts, shifts) keep the values every figure of the book was made with,
    ``2 * seed + stream``, in the lower half of the 32-bit seeds; every other stream takes
    ``2**31 + 16 * seed + stream`` in the upper half, so no two pairs share a seed.
    """
    index = STREAMS.index(stream) if isinstance(stream, str) else int(stream)
    seed = check_seed(seed)
    if not 0 <= index < MAX_STREAMS:
        raise ValueError(f"stream {stream!r}: use one of {STREAMS} or an index below {MAX_STREAMS}")
    return 2 * seed + index if index < 2 else 2**31 + MAX_STREAMS * seed + index


def check_seed(seed: object) -> int:
    """``seed`` as an ``int``, if it is one (NumPy's integers too) in ``0 <= seed < MAX_SEED``.

    Raises:
        SeedError: a float (``1.5`` would silently be seed 1), a bool, or out of range.
    """
    try:
        if isinstance(seed, bool):
            raise TypeError
        value = operator.index(seed)
    except TypeError:
        raise SeedError(f"seed {seed!r}: seeds are integers from 0 to {MAX_SEED - 1} (2**27 - 1)") from None
    if not 0 <= value < MAX_SEED:
        raise SeedError(f"seed {seed}: seeds are integers from 0 to {MAX_SEED - 1} (2**27 - 1)")
    return value


def generator(seed: int, stream: str | int) -> torch.Generator:
    """A CPU generator for one purpose (a name or index of :data:`STREAMS`) of one seed."""
    return torch.Generator().manual_seed(generator_seed(seed, stream))
