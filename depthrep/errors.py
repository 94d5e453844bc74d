"""The one base class of depthrep's own errors about what was asked for.

Every error that depthrep raises for a bad input (an unknown name, an unreadable image,
a missing weights file, a full disk) is a :class:`DepthrepError`, with a message that
says what is wrong and what to do instead. Each also derives from the built-in type it
would otherwise be (``ValueError`` for a bad value, ``RuntimeError`` or ``OSError`` for
the machine), so ``except ValueError`` keeps working. The command line prints such an
error on one line and exits with status 2.
"""

from __future__ import annotations


class DepthrepError(Exception):
    """A request depthrep cannot honour; the message says why and what to pass instead."""
