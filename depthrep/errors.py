"""The one base class of depthrep's own errors about what was asked for.

Every error that depthrep raises for a bad input (an unknown name, an unreadable image,
a missing weights file, a full disk) is a :class:`DepthrepError`, with a message that
says what is wrong and what to do instead. Each also derives from the built-in type it
would otherwise be (``ValueError`` for a bad value, ``RuntimeError`` or ``OSError`` for
the machine), so ``except ValueError`` keeps working. The command line prints such an
error on one line and exits with status 2.
"""

from __future__ import annotations

import sys
from collections.abc import Callable


class DepthrepError(Exception):
    """A request depthrep cannot honour; the message says why and what to pass instead."""


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
