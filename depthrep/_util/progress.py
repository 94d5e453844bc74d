"""Progress bars: shown in a terminal or notebook, hidden where a runner asks.

One policy for every long loop (inversion, training): ``progress=True`` or ``False`` says it;
``None`` shows the bar unless the environment sets ``TQDM_DISABLE``, as ``python -m
depthrep book`` does for the notebooks it executes (their saved outputs stay clean).
"""

from __future__ import annotations

import os

from tqdm.auto import tqdm

__all__ = ["bar", "shown"]


def shown(progress: bool | None) -> bool:
    """Whether a loop asked with ``progress`` shows its bar."""
    return (not os.environ.get("TQDM_DISABLE")) if progress is None else bool(progress)


def bar(progress: bool | None, **kwargs) -> tqdm:
    """A tqdm bar (``kwargs`` as tqdm's), disabled where :func:`shown` says so."""
    return tqdm(disable=not shown(progress), **kwargs)
