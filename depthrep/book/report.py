"""What an executed notebook reports: its run (profile, device, time) and its claim checks.

A notebook starts with ``run = depthrep.book.start(profile)`` and ends with
``depthrep.book.check(run, claims)``. The check shows a table of the measured values behind
each claim and raises :class:`ClaimFailed` if one does not hold, so papermill (and
``python -m depthrep book``) fails on it. The table also carries a JSON copy under
:data:`CLAIMS_MIME`, which the runner reads back from the executed notebook.
"""

from __future__ import annotations

import dataclasses
import datetime
import html
import platform
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch

from depthrep._util.precision import INVERSION, TRAINING, choose_precision, describe_hardware
from depthrep.profiles import DEFAULT as DEFAULT_PROFILE
from depthrep.profiles import Profile, get_profile
from depthrep.zoo.models import default_device

CLAIMS_MIME = "application/vnd.depthrep.claims+json"


class ClaimFailed(AssertionError):
    """A claim check did not hold on the numbers the notebook computed."""


@dataclass(frozen=True)
class Run:
    """One execution of a notebook: its profile, device and start time."""

    profile: Profile
    device: torch.device
    started: float
    """``time.time()`` at :func:`start`."""

    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.time() - self.started

    def describe(self) -> str:
        """``"profile ci · cpu (2 threads, x86_64, AVX512, native bfloat16) · torch 2.14.1 ·
        2026-11-25 04:10 UTC · inversion float32, training bfloat16"``: the book's page notes
        read these fields in this order."""
        device = self.device.type
        if device == "cuda":
            device = torch.cuda.get_device_name(self.device)
        else:
            threads = torch.get_num_threads()
            hardware = f"{platform.machine()}, {describe_hardware('cpu')}"
            device = f"cpu ({threads} thread{'s' * (threads != 1)}, {hardware})"
        precisions = (
            f"inversion {choose_precision(self.device, INVERSION)}, "
            f"training {choose_precision(self.device, TRAINING)}"
        )
        when = datetime.datetime.fromtimestamp(self.started, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        return f"profile {self.profile.name} · {device} · torch {torch.__version__} · {when} · {precisions}"


def start(profile: str | Profile = DEFAULT_PROFILE, **overrides) -> Run:
    """Begin a notebook run: resolve the profile and show what will produce the figures.

    Args:
        profile: a name in :data:`depthrep.profiles.PROFILES` (see :mod:`depthrep.profiles`).
        overrides: single profile fields to change; ``None`` values are ignored, so a
            notebook can pass its optional parameters straight through.
    """
    run = Run(get_profile(profile, **overrides), default_device(), time.time())
    settings = ", ".join(
        f"{f.name}={getattr(run.profile, f.name)}"
        for f in dataclasses.fields(run.profile)
        if f.name != "name"
    )
    _display(
        {
            "text/plain": f"{run.describe()}\n{settings}",
            "text/html": (
                f'<div class="depthrep-run"><b>Run:</b> {html.escape(run.describe())}'
                f"<br><small>{html.escape(settings)}</small></div>"
            ),
        }
    )
    return run


VERDICTS = ("holds", "departs", "undecided", "did not converge", "fails")
"""What a claim check can say.

- ``holds``: the pre-stated test holds on every member (seed and target), in the paper's
  direction;
- ``departs``: it holds on every member, in a direction that departs from the paper,
  stated before the run (``departs=True``); or the paper's claim, stated as the paper
  states it and marked a finding (``finding=True``), holds on no member;
- ``undecided``: it holds on some members and not on others: the spread over seeds and
  targets spans the line;
- ``did not converge``: a run the claim needs diverged or ended above ``m_r``
  (``converged``): the claim is neither held nor departed;
- ``fails``: it holds on no member, or its contrast holds too.

Only ``fails`` stops a run (:class:`ClaimFailed`): the other four are findings the book
reports, with their numbers, on its page of what did not reproduce.
"""


@dataclass(frozen=True)
class Claim:
    """One checked claim and the numbers behind it."""

    statement: str
    """The claim in words, as the check tests it (with its margin)."""
    holds: bool
    """The test held on every member (verdict ``holds`` or ``departs``)."""
    values: dict[str, float | list[float]]
    """Measured values, one per batch member (seed and image, seed-major) where the claim is
    checked per member."""
    baseline: str
    """What the claim's margin is measured against, computed in the same run: ``"||a' - a||
    of the same image"``, ``"m_i at conv1_prepool"``, ``"the untrained start"``."""
    margin: str
    """By how much it must beat the baseline, in words: ``"2x"``, ``"order"`` (a direction
    or an ordering only), ``"> 5 % per decade"``."""
    departs: bool = False
    """True where the check asserts a measured direction that departs from the paper."""
    contrast: str | None = None
    """The layer (or model, or run) the claim sets itself against, where it says that one
    differs from another; the same test must fail there on every member."""
    contrast_holds: bool | None = None
    """Whether the test held anywhere at :attr:`contrast` (a claim that it also satisfies
    does not separate the two, and fails)."""
    verdict: str = ""
    """One of :data:`VERDICTS`."""
    converged: bool | None = None
    """Whether every run the claim needs reached ``m_g < m_r`` without diverging (``None``:
    the claim did not say which runs it needs)."""


def claim(
    statement: str,
    holds,
    *,
    baseline: str,
    margin: str,
    contrast: str | None = None,
    contrast_test=None,
    departs: bool = False,
    finding: bool = False,
    converged=None,
    **values,
) -> Claim:
    """A :class:`Claim`; ``holds`` may be a bool or a sequence of per-seed bools (all must hold).

    Args:
        baseline: what the margin is measured against, computed in the same run.
        margin: by how much, in words (``"2x"``, ``"order"`` for a direction alone).
        contrast: where the claim says one layer differs from another, the other one; then
            ``contrast_test`` is the same test computed there (per member), and the claim
            holds only if that test fails on every member.
        departs: the check asserts a measured direction that departs from the paper.
        finding: the paper's claim checked as the paper states it, where holding on no member is
            a finding, not a fault: the verdict is then ``departs`` (the run goes on) instead
            of ``fails``. For claims stated one by one (per world, say) before the run, whose
            outcome the book reports either way.
        converged: per member, whether each run the claim rests on reached ``m_g < m_r``
            without diverging (bools, tensors of them, or sequences of either;
            :func:`converged`). Where any did not, the verdict is ``did not converge``.
        values: numbers, tensors or sequences of them (one per seed), rounded to plain
            floats for the table.
    """
    if (contrast is None) != (contrast_test is None):
        raise ValueError("claim: pass contrast (its name) and contrast_test (the test there) together")
    truths = _truths(holds)
    if not truths:
        raise ValueError(f"claim {statement!r}: no verdict to check (an empty list of members)")
    contrast_holds = None if contrast_test is None else any(_truths(contrast_test))
    finished = None if converged is None else all(_truths(converged))
    ok = all(truths) and not contrast_holds
    if finished is False:
        said, ok = "did not converge", False
    elif finding and not contrast_holds and not any(truths):
        said = "departs"
    elif contrast_holds or not any(truths):
        said = "fails"
    elif not all(truths):
        said = "undecided"
    else:
        said = "departs" if departs else "holds"
    plain = {k: _plain(v) for k, v in values.items()}
    return Claim(statement, ok, plain, baseline, margin, departs, contrast, contrast_holds, said, finished)


def converged(*results) -> torch.Tensor:
    """``(B,)`` bool per member of :class:`~depthrep.InversionResult` s of the same members:
    every run reached ``m_g < m_r`` and none diverged (what a claim's ``converged`` takes)."""
    return torch.stack([r.converged for r in results]).all(0)


def _truths(holds) -> list[bool]:
    """Every verdict in a bool, a tensor of them, or nested sequences of either, flattened."""
    if isinstance(holds, torch.Tensor):
        return [bool(h) for h in holds.flatten().tolist()]
    if isinstance(holds, Iterable):
        return [t for h in holds for t in _truths(h)]
    return [bool(holds)]


def check(run: Run, claims: Sequence[Claim], *, results: Iterable[Mapping] = ()) -> None:
    """Show the claims as a table and raise :class:`ClaimFailed` if any does not hold.

    Args:
        results: the inversion results (``{layer: InversionResult}`` dicts) the claims were
            computed from. If any of their runs diverged, a failing claim says so: a diverged
            result is refused, never taken as a finding.
    """
    claims = list(claims)
    diverged = sorted({name for r in results for name, res in r.items() if bool(res.diverged.any())})
    if diverged:
        claims.insert(
            0,
            Claim(
                "no inversion behind these claims diverged",
                False,
                {"diverged": diverged},
                "each member's own m_g at step 0",
                "depthrep.core.divergence.DIVERGENCE",
            ),
        )
    rows = "".join(
        f"<tr><td>{html.escape(c.statement)}</td><td>{html.escape(against(c))}</td>"
        f"<td><code>{html.escape(_format(c.values))}</code></td><td>{verdict(c)}</td></tr>"
        for c in claims
    )
    footer = f"{run.describe()} · {run.elapsed():.0f} s"
    _display(
        {
            "text/plain": "\n".join(
                f"[{verdict(c)}] {c.statement} ({against(c)}): {_format(c.values)}" for c in claims
            )
            + f"\n{footer}",
            "text/html": (
                '<table class="depthrep-claims"><thead><tr><th>claim</th><th>against</th><th>measured</th>'
                f"<th>verdict</th></tr></thead><tbody>{rows}</tbody></table><small>{html.escape(footer)}</small>"
            ),
            CLAIMS_MIME: {
                "profile": run.profile.name,
                "device": run.describe(),
                "seconds": round(run.elapsed(), 1),
                "claims": [dataclasses.asdict(c) for c in claims],
            },
        }
    )
    failed = [c for c in claims if failing(c)]
    if failed:
        raise ClaimFailed(
            "Claims that did not hold: " + "; ".join(f"{c.statement} ({_format(c.values)})" for c in failed)
        )


def against(claim: Claim | Mapping) -> str:
    """``"margin 2x over ||a' - a|| of the same image; not at conv1_prepool"``: what a claim (a
    :class:`Claim`, or its JSON form read back from an executed notebook) is measured against;
    empty for one recorded before claims named their baseline."""
    fields = _fields(claim)
    if not fields.get("baseline"):
        return ""
    contrast = f"; not at {fields['contrast']}" if fields.get("contrast") else ""
    return f"margin {fields.get('margin')} over {fields['baseline']}{contrast}"


def _fields(claim: Claim | Mapping) -> Mapping:
    """A claim's fields, whether a :class:`Claim` or its JSON form read back from a notebook."""
    return claim if isinstance(claim, Mapping) else dataclasses.asdict(claim)


def kind(claim: Claim | Mapping) -> str:
    """The claim's verdict, one of :data:`VERDICTS` (a claim recorded before verdicts were
    named: ``holds``, ``departs`` or ``fails`` from its fields)."""
    fields = _fields(claim)
    if fields.get("verdict"):
        return fields["verdict"]
    if fields.get("contrast_holds") or not fields["holds"]:
        return "fails"
    return "departs" if fields.get("departs") else "holds"


def tally(claims: Iterable[Claim | Mapping]) -> str:
    """``"5 hold, 1 departs, 1 did not converge"``: the claims counted by verdict, in the order of
    :data:`VERDICTS` (``"none"`` for no claim)."""
    counts = Counter(kind(c) for c in claims)
    words = {"holds": "hold"}
    return ", ".join(f"{counts[v]} {words.get(v, v)}" for v in VERDICTS if counts[v]) or "none"


def failing(claim: Claim | Mapping) -> bool:
    """Whether the claim stops a run: its verdict is ``fails``."""
    return kind(claim) == "fails"


def verdict(claim: Claim | Mapping) -> str:
    """The verdict in words: ``"holds"``, ``"departs from the paper"``, ``"undecided"``,
    ``"did not converge"``, ``"fails"`` or ``"fails (its test also holds at conv2)"``, for a
    :class:`Claim` or its JSON form."""
    fields, said = _fields(claim), kind(claim)
    if said == "fails" and fields.get("contrast_holds"):
        return f"fails (its test also holds at {fields['contrast']})"
    return "departs from the paper" if said == "departs" else said


def _plain(value):
    if isinstance(value, torch.Tensor):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(f"{float(value):.4g}")  # four significant digits, tiny values kept
    return value


def _format(values: dict) -> str:
    def fmt(v):
        if isinstance(v, list):
            return "[" + ", ".join(fmt(x) for x in v) + "]"
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    return ", ".join(f"{k}={fmt(v)}" for k, v in values.items())


def _display(bundle: dict) -> None:
    try:
        from IPython.display import display
    except ImportError:  # plain Python: print the text form
        print(bundle["text/plain"])
        return
    display(bundle, raw=True)


def table(rows: Sequence[dict], *, digits: int = 4) -> None:
    """Show a list of dicts (one per row) as an HTML table with a text fallback.

    Columns are the keys in order of first appearance; a row without a key leaves its cell
    empty. Lists and tensors of numbers (one per seed, say) are shown comma-separated."""
    if not rows:
        return
    columns = list(dict.fromkeys(key for row in rows for key in row))

    def cell(v):
        if isinstance(v, torch.Tensor):
            v = v.item() if v.numel() == 1 else v.tolist()
        if isinstance(v, float):
            return f"{v:.{digits}g}"
        if isinstance(v, list | tuple) and all(isinstance(x, int | float) for x in v):
            return ", ".join(cell(float(x)) for x in v)
        return "" if v is None else str(v)

    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell(r.get(c)))}</td>" for c in columns) + "</tr>" for r in rows
    )
    text = "\n".join(["\t".join(columns)] + ["\t".join(cell(r.get(c)) for c in columns) for r in rows])
    markup = f'<table class="depthrep-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    _display({"text/plain": text, "text/html": markup})
