"""Execute the notebooks with papermill, at one profile, and record what they found.

    python -m depthrep.run --profile ci [--out build/notebooks] [NOTEBOOK ...]

Each notebook in ``notebooks/`` is executed into the output folder (never in place)
with ``-p profile <profile>``. ``summary.json`` beside them records per notebook the
profile, device, wall time, status and every claim check with its measured values. An
executed notebook is kept even when it fails, so its traceback can be read. The exit
status is 1 if any notebook failed or any claim did not hold.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .checkpoints import atomic_write
from .profiles import PROFILES
from .report import CLAIMS_MIME

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


@dataclass
class Outcome:
    """What one executed notebook reported."""

    notebook: str
    status: str  # "ok" | "failed"
    seconds: float
    profile: str
    device: str = ""
    claims: list[dict] = field(default_factory=list)
    error: str = ""


def notebooks(folder: Path = NOTEBOOKS) -> list[Path]:
    """The notebooks to execute, in reading order (file name order; unnumbered ones last)."""
    found = [p for p in folder.glob("*.ipynb") if not p.name.startswith(".")]
    return sorted(found, key=reading_order)


def reading_order(notebook: Path) -> tuple[bool, str]:
    """Sort key: numbered notebooks by number, then the others by name."""
    return (not notebook.name[0].isdigit(), notebook.name)


def execute(notebook: Path, out: Path, profile: str, kernel: str = "python3") -> Outcome:
    """Run one notebook with papermill into ``out``; never raises for a notebook error."""
    import nbformat
    import papermill

    target = out / notebook.name
    # papermill saves after every cell: run into a temporary name and rename once it is done,
    # so an interrupted run leaves the previous notebook (or none), never half of one.
    partial = out / f".{notebook.stem}.part.ipynb"
    start = time.perf_counter()
    error = ""
    env = {"TQDM_DISABLE": "1", "PYTHONWARNINGS": os.environ.get("PYTHONWARNINGS", "")}
    previous = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        papermill.execute_notebook(
            str(notebook), str(partial), parameters={"profile": profile}, kernel_name=kernel,
            cwd=str(notebook.parent), progress_bar=False, log_output=False,
        )  # fmt: skip
    except Exception as err:  # papermill re-raises the cell's exception; record it, go on
        error = f"{type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err).strip() else ''}"
    except BaseException:  # Ctrl-C: nothing half-written stays behind
        partial.unlink(missing_ok=True)
        raise
    finally:
        for k, v in previous.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    if partial.exists():
        os.replace(partial, target)
    seconds = time.perf_counter() - start
    outcome = Outcome(notebook.name, "failed" if error else "ok", round(seconds, 1), profile, error=error)
    if target.exists():
        for cell in nbformat.read(target, as_version=4).cells:
            for output in cell.get("outputs", []):
                report = output.get("data", {}).get(CLAIMS_MIME)
                if report:
                    outcome.device = report["device"]
                    outcome.claims.extend(report["claims"])
    if not error and any(not c["holds"] for c in outcome.claims):
        outcome.status = "failed"
    return outcome


def run_all(profile: str, out: Path, selected: list[Path] | None = None) -> list[Outcome]:
    """Execute the notebooks (all, or ``selected``) and write ``out/summary.json``.

    Running some notebooks again at the profile of the summary already in ``out`` updates
    their entries and keeps the others, so the book's run summary still lists every chapter.
    """
    out.mkdir(parents=True, exist_ok=True)
    entries = _earlier(out / "summary.json", profile) if selected else {}
    outcomes = []
    for notebook in selected or notebooks():
        print(f"{notebook.name} ...", end=" ", flush=True)
        outcome = execute(notebook, out, profile)
        held = sum(c["holds"] for c in outcome.claims)
        print(
            f"{outcome.status} in {outcome.seconds:.0f} s, {held}/{len(outcome.claims)} claims hold",
            flush=True,
        )
        if outcome.error:
            print(f"    {outcome.error}", flush=True)
        outcomes.append(outcome)
        entries[outcome.notebook] = asdict(outcome)
        listed = sorted(entries.values(), key=lambda e: reading_order(Path(e["notebook"])))
        text = json.dumps({"profile": profile, "notebooks": listed}, indent=2)
        atomic_write(out / "summary.json", lambda tmp, text=text: tmp.write_text(text))
    return outcomes


def _earlier(summary: Path, profile: str) -> dict[str, dict]:
    """``{notebook: entry}`` of an existing summary at ``profile`` (empty: none, or another profile)."""
    try:
        found = json.loads(summary.read_text())
        if found["profile"] != profile:
            return {}
        return {entry["notebook"]: entry for entry in found["notebooks"]}
    except (OSError, ValueError, TypeError, KeyError):  # none, or not a summary: start afresh
        return {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m depthrep.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="laptop", choices=list(PROFILES))
    parser.add_argument("--out", type=Path, default=Path("build/notebooks"))
    parser.add_argument(
        "notebooks", nargs="*", type=Path, help="notebooks to run (default: all in notebooks/)"
    )
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.notebooks if not p.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    start = time.perf_counter()
    outcomes = run_all(args.profile, args.out, [p.resolve() for p in args.notebooks] or None)
    failed = [o.notebook for o in outcomes if o.status != "ok"]
    total = time.perf_counter() - start
    passed = len(outcomes) - len(failed)
    print(
        f"{passed}/{len(outcomes)} notebooks passed in {total:.0f} s; summary in {args.out / 'summary.json'}"
    )
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
