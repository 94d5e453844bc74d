"""Suggestions for mistyped names, shared by every lookup that raises on an unknown name."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: object, choices: Iterable[str], n: int = 1, cutoff: float = 0.6) -> str:
    """``" Did you mean 'a' or 'b'?"`` for the up to ``n`` choices nearest ``name``, or ``""``.

    >>> did_you_mean("resnet5O", ["resnet50", "vgg16"])
    " Did you mean 'resnet50'?"
    """
    close = difflib.get_close_matches(str(name), list(choices), n=n, cutoff=cutoff)
    return f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
