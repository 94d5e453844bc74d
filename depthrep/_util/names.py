"""Names looked up: suggestions for mistyped ones, and presets picked by name with checked fields."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Mapping
from typing import TypeVar

T = TypeVar("T")


def did_you_mean(name: object, choices: Iterable[str], n: int = 1, cutoff: float = 0.6) -> str:
    """``" Did you mean 'a' or 'b'?"`` for the up to ``n`` choices nearest ``name``, or ``""``.

    >>> did_you_mean("resnet5O", ["resnet50", "vgg16"])
    " Did you mean 'resnet50'?"
    """
    close = difflib.get_close_matches(str(name), list(choices), n=n, cutoff=cutoff)
    return f" Did you mean {' or '.join(map(repr, close))}?" if close else ""


def preset(
    presets: Mapping[str, T], chosen: str | T, overrides: Mapping, *, kind: str, error: type[Exception]
) -> T:
    """``presets[chosen]`` (or ``chosen`` itself, a dataclass of their type) with ``overrides``
    replacing its fields.

    Raises:
        error: ``chosen`` is no preset, or an override names no field; the message lists the
            valid ones and suggests the nearest.

    >>> from depthrep.core.methods import METHODS
    >>> from depthrep.errors import MethodError
    >>> preset(METHODS, "paper", {"lr": (0.1, 0.01)}, kind="method", error=MethodError).lr
    (0.1, 0.01)
    """
    if isinstance(chosen, str):
        if chosen not in presets:
            hint = did_you_mean(chosen, presets)
            raise error(f"Unknown {kind} {chosen!r}.{hint} Choose one of {', '.join(presets)}.")
        chosen = presets[chosen]
    fields = {f.name for f in dataclasses.fields(chosen)} - {"name"}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        hints = "".join(did_you_mean(u, fields) for u in unknown)
        raise error(f"Unknown {kind} fields {unknown}.{hints} Valid ones are {sorted(fields)}.")
    return dataclasses.replace(chosen, **overrides)
