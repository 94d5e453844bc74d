"""The error and warning types of depthrep, in one place (``depthrep.errors.UnknownModelError``);
only the book's failed claim check (:class:`depthrep.book.ClaimFailed`) lives with the book.

Every error that depthrep raises for a bad input (an unknown name, an unreadable image,
a missing weights file, a full disk) is a :class:`DepthrepError`, with a message that
says what is wrong and what to do instead. Each also derives from the built-in type it
would otherwise be (``ValueError`` for a bad value, ``RuntimeError`` or ``OSError`` for
the machine), so ``except ValueError`` keeps working. The command line prints such an
error on one line and exits with status 2. The warnings (a run that diverged, weights
that do not match their published hash, ...) are subclasses of :class:`UserWarning`, so the usual warning
filters take them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

__all__ = [
    "CheckpointError",
    "ClusterError",
    "CorruptResultError",
    "DepthrepError",
    "DivergenceError",
    "DivergenceWarning",
    "EmbeddingError",
    "ImageError",
    "ImageSizeError",
    "LabelError",
    "MethodError",
    "PrecisionError",
    "PrecisionWarning",
    "SeedError",
    "StopError",
    "SweepError",
    "TrainError",
    "UnknownLayerError",
    "UnknownModelError",
    "UntraceableModelError",
    "UnusableWeightsError",
    "WeightsHashWarning",
    "WeightsUnavailable",
    "ZeroEmbeddingWarning",
]


class DepthrepError(Exception):
    """A request depthrep cannot honour; the message says why and what to pass instead."""


class SeedError(DepthrepError, ValueError):
    """A seed that is no integer in ``0 <= seed < MAX_SEED``."""


class PrecisionError(DepthrepError, ValueError):
    """An unknown precision was asked for, as an argument or in ``$DEPTHREP_PRECISION``."""


class PrecisionWarning(UserWarning):
    """bfloat16 was asked for on a device that would only emulate it; float32 ran instead."""


class ClusterError(DepthrepError, ValueError):
    """submitit or Slurm is not there, or a setting for them is not one they take."""


class UnknownModelError(DepthrepError, ValueError):
    """A model name that depthrep cannot build; the message lists the valid ones."""


class ImageSizeError(DepthrepError, ValueError):
    """An ``image_size`` the model's architecture cannot take; the message gives sizes it can."""


class WeightsUnavailable(DepthrepError, RuntimeError):
    """Pretrained weights are not cached and cannot be downloaded; the message says where
    to put the file."""


class UnknownLayerError(DepthrepError, ValueError):
    """A layer name the model does not have; the message lists the valid ones."""


class UntraceableModelError(DepthrepError, ValueError):
    """A model that torch.fx cannot trace, so its layers cannot be named or read out."""


class ImageError(DepthrepError, ValueError):
    """An image could not be read or converted; the message says why and what to pass."""


class CheckpointError(DepthrepError, RuntimeError):
    """A checkpoint file is missing, unreadable, truncated or not a depthrep checkpoint, or
    the cache cannot be written (a read-only folder, a full disk)."""


class WeightsHashWarning(UserWarning):
    """A weights file in the hub cache whose SHA-256 does not start with the hash in its name:
    not the file published under that name (placed by hand, converted, or damaged)."""


class MethodError(DepthrepError, ValueError):
    """An unknown method, or a setting of the update or the run out of its range
    (``invert``'s step count included); the message gives the valid ones."""


class StopError(DepthrepError, ValueError):
    """A stopping rule out of its range; the message says which values are allowed."""


class UnusableWeightsError(DepthrepError, ValueError):
    """A model whose weights cannot run an inversion as they are: not float32, or not in memory."""


class EmbeddingError(DepthrepError, ValueError):
    """The model's embedding of the target is not finite: its weights hold NaN or infinity."""


class ZeroEmbeddingWarning(UserWarning):
    """The target's embedding is zero at a layer (a flat image through an untrained net, say):
    the relative distances ``m_g / ||O(a)||`` are undefined there."""


class DivergenceWarning(UserWarning):
    """Some members of an inversion diverged; their results are frozen where it happened."""


class DivergenceError(DepthrepError, RuntimeError):
    """Raised instead of :class:`DivergenceWarning` by ``invert(..., strict=True)``."""


class LabelError(DepthrepError, KeyError):
    """A label or label value that no member of a result carries; the message lists those there are."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class SweepError(DepthrepError, ValueError):
    """A sweep folder, job list or setting that cannot be used; the message says what to do."""


class CorruptResultError(SweepError):
    """A result file is truncated, altered or not a depthrep sweep result."""


class TrainError(DepthrepError, ValueError):
    """A model that cannot be trained here as asked (the message says why and what would work)."""


def one_line(err: object) -> str:
    """An error's (or warning's) message with its white space folded: one line on a terminal."""
    return " ".join(str(err).split())


def exit_status(
    prog: str, command: Callable[[], int], *, interrupted: str, out_of_memory: Callable[[str], str] = str
) -> int:
    """Run one command of a command line: ``command()``'s exit status, or one line on stderr
    and the status of what stopped it. 2: a :class:`DepthrepError` (what was asked for); 1:
    the run or the machine (out of memory, its message through ``out_of_memory``; a full
    disk, a folder gone read-only); 130: Ctrl-C, with ``interrupted`` saying what is left."""
    try:
        return command()
    except DepthrepError as err:
        print(f"{prog}: error: {one_line(err)}", file=sys.stderr)
        return 2
    except MemoryError as err:
        print(f"{prog}: out of memory: {out_of_memory(one_line(err))}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"{prog}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: {interrupted}", file=sys.stderr)
        return 130
