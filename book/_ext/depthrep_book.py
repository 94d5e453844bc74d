"""Sphinx extension for the depthrep book: executed chapters, offline scripts, run summary.

- **Executed chapters.** The table of contents lists chapters by their notebook in
  ``notebooks/`` (so Colab and Binder buttons open that notebook), but each page shows
  the copy that ``make notebooks`` executed into ``depthrep_executed`` (default
  ``build/notebooks``): its text replaces the source when Sphinx reads the page. The book
  never executes a notebook; a missing executed copy stops the build. Each chapter gets a
  note under its title naming the profile, device, time and duration of its run, and the
  page's download button gives the executed notebook.
- **Every notebook is a chapter.** A notebook in ``notebooks/`` that ``_toc.yml`` does not
  list is a warning (an error under ``-W``).
- **Offline scripts.** ``_config.yml`` points MathJax and the ipywidgets scripts at
  ``build/static/offline`` (``book/vendor.py`` fills it from npm). If it is missing, the
  build falls back to the CDNs and says so.
- **Each inline script once.** Sphinx 7.4 adds an inline script registered after the
  builder started (sphinx-thebe's ``const THEBE_JS_URL = ...``, sphinx-togglebutton's
  selector) to every page twice: once under the file name ``None`` and once under ``''``.
  The second ``const`` declaration is a console error; the duplicates are dropped.
- **Run summary.** The ``depthrep-runs`` directive renders ``summary.json`` of the
  executed notebooks as tables: one row per chapter, one row per claim.
- **What did not reproduce.** The ``depthrep-findings`` directive lists, from the same file,
  every claim whose verdict is not ``holds``, grouped by verdict, with its numbers and profile.
- **Tables from the package.** ``depthrep-table`` with ``profiles`` or ``methods`` renders
  :data:`depthrep.profiles.PROFILES` or :data:`depthrep.METHODS` as a table, so a page never restates
  a size or a step that the package defines.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ExtensionError
from sphinx.ext.mathjax import MATHJAX_URL
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from depthrep import profiles

from depthrep.core import methods
from depthrep.book.report import CLAIMS_MIME, VERDICTS, against, kind, tally, verdict

logger = logging.getLogger(__name__)

CHAPTERS = "notebooks"
"""Folder of the chapter notebooks, relative to the book's root."""
RUNNER_ONLY = (CLAIMS_MIME,)
"""Output types written for ``python -m depthrep book`` (``depthrep.book.report.CLAIMS_MIME``), not for readers:
dropped before rendering (myst-nb would warn about a type it cannot render)."""
SCALE = {
    "paper": "These figures are at the paper's scale.",
    "workstation": "These figures are at workstation scale: larger than a laptop's, smaller than the paper's.",
    "laptop": "These figures are at laptop scale: smaller images and fewer steps than the paper's.",
    "ci": "These figures are at `ci` scale, the smallest: small images and few steps, just enough for "
    "each claim to show.",
}


def setup(app: Sphinx) -> dict:
    app.add_config_value("depthrep_executed", "build/notebooks", "env", types=[str])
    app.connect("config-inited", check_chapters, priority=950)  # after sphinx_external_toc (900)
    app.connect("config-inited", offline_or_cdn)
    app.connect("source-read", read_executed)
    app.connect("build-finished", download_executed)
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)  # after other handlers
    app.add_directive("depthrep-runs", RunSummary)
    app.add_directive("depthrep-table", PackageTable)
    app.add_directive("depthrep-findings", Findings)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}


def executed_dir(app: Sphinx) -> Path:
    return Path(app.srcdir, app.config.depthrep_executed)


def check_chapters(app: Sphinx, config: Config) -> None:
    """Warn about each notebook in ``notebooks/`` that ``_toc.yml`` does not list."""
    site_map = getattr(config, "external_site_map", None)
    if site_map is None:
        return
    listed = {name.removesuffix(".ipynb") for name in site_map}
    for notebook in sorted(Path(app.srcdir, CHAPTERS).glob("*.ipynb")):
        docname = f"{CHAPTERS}/{notebook.stem}"
        if docname not in listed:
            logger.warning(
                f"{CHAPTERS}/{notebook.name} is not in _toc.yml: add `- file: {docname}` to a part"
            )


def offline_or_cdn(app: Sphinx, config: Config) -> None:
    """Keep the vendored scripts where ``book/vendor.py`` installed them, else use the CDNs."""
    static = [p for p in config.html_static_path if Path(app.srcdir, p).is_dir()]
    if any(Path(app.srcdir, p, config.mathjax_path).is_file() for p in static):
        return
    from myst_nb.core.config import ipywidgets_js_factory

    config.html_static_path = static
    config.mathjax_path = MATHJAX_URL
    config.nb_ipywidgets_js = ipywidgets_js_factory()
    logger.info(
        "depthrep: the offline scripts are missing (build/static/offline; `make vendor` installs them "
        "with npm), so pages load MathJax and the widget manager from CDNs: without a network, math "
        "shows as raw TeX and widgets stay blank.",
        color="red",
    )


def read_executed(app: Sphinx, docname: str, source: list[str]) -> None:
    """Replace a chapter's source with its executed copy, plus a note on the run."""
    if not docname.startswith(f"{CHAPTERS}/"):
        return
    path = executed_dir(app) / f"{docname.removeprefix(CHAPTERS + '/')}.ipynb"
    if not path.is_file():
        raise ExtensionError(
            f"{path.relative_to(app.srcdir)} is missing: the book shows executed notebooks and never "
            f"executes one. Run `make notebooks` (or `make book`) first."
        )
    app.env.note_dependency(str(path))
    notebook = json.loads(path.read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            for mime in RUNNER_ONLY:
                output.get("data", {}).pop(mime, None)
    notebook["cells"].insert(1, run_note(notebook))
    source[0] = json.dumps(notebook)


def run_note(notebook: dict) -> dict:
    """A markdown cell saying which run produced the page, to go under the title."""
    papermill = notebook.get("metadata", {}).get("papermill", {})
    profile = papermill.get("parameters", {}).get("profile", "?")
    described = ""
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "depthrep-run" in "".join(data.get("text/html", "")):
                described = "".join(data.get("text/plain", "")).splitlines()[0]
                break
        if described:
            break
    device, torch, when, precision = _banner(described)
    seconds = papermill.get("duration")
    run = "".join(
        [
            f" on {device}" if device else "",
            f" ({precision})" if precision else "",
            f" with {torch}" if torch else "",
            f", starting {when}" if when else "",
            f", in {seconds:.0f} s" if isinstance(seconds, int | float) else "",
        ]
    )
    text = [
        ":::{admonition} How these figures were made",
        ":class: depthrep-scale",
        f"Executed with papermill at profile **`{profile}`**{run}. {SCALE.get(profile, '')} "
        "{doc}`/book/rerun` shows how to rebuild the book at another scale.",
    ]
    if papermill.get("exception"):
        text.append("\n**This run stopped with an error**: the outputs below end where it stopped.")
    text.append(":::")
    return {"cell_type": "markdown", "id": "depthrep-run-note", "metadata": {}, "source": "\n".join(text)}


def download_executed(app: Sphinx, exception: Exception | None) -> None:
    """Make each chapter's download button give the executed notebook, outputs included."""
    if exception or app.builder.format != "html":
        return
    sources = Path(app.outdir, "_sources", CHAPTERS)
    for notebook in sources.glob("*.ipynb"):
        executed = executed_dir(app) / notebook.name
        if executed.is_file():
            shutil.copyfile(executed, notebook)


def drop_duplicate_scripts(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """Keep the first of scripts that differ only in a file name of ``None`` vs ``''``."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        key = (script.filename or "", script.priority, tuple(sorted(script.attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique  # in place: Sphinx restores this list after the page


def recorded_runs(directive: SphinxDirective) -> list[dict] | None:
    """The notebooks of the executed run's ``summary.json`` (a dependency of the page), or
    ``None`` with a warning where no run has been recorded."""
    path = Path(directive.env.srcdir, directive.config.depthrep_executed, "summary.json")
    directive.env.note_dependency(str(path))
    if not path.is_file():
        logger.warning(f"{path} is missing: run `make notebooks` first", location=directive.get_location())
        return None
    return json.loads(path.read_text(encoding="utf-8"))["notebooks"]


class RunSummary(SphinxDirective):
    """``depthrep-runs``: tables of the run recorded in the executed notebooks' ``summary.json``."""

    def run(self) -> list[nodes.Node]:
        runs = recorded_runs(self)
        if runs is None:
            return [nodes.paragraph(text="No run has been recorded yet.")]
        if not runs:
            return [nodes.paragraph(text="The recorded run executed no notebook.")]
        rows = [_describe(run) for run in runs]
        # What every chapter shares goes in a sentence; what differs gets a column.
        shared = [k for k in ("profile", "device", "torch") if len({r[k] for r in rows}) == 1]
        varying = [k for k in ("profile", "device", "torch") if k not in shared]
        times = sorted(r["started"] for r in rows if r["started"])
        when = f"{times[0]} to {times[-1]}" if times and times[0] != times[-1] else (times or ["?"])[0]
        said = ", ".join(f"{k} {rows[0][k]}" for k in shared)
        total = sum(run["seconds"] for run in runs)
        computed, read = (sum(run.get(k, 0) for run in runs) for k in ("computed", "read"))
        kept = (
            f" Of their inversions, {computed} were computed and {read} read from results that an earlier "
            "run kept (the rerun page says where they are kept and how to compute them afresh)."
            if read
            else ""
        )
        lines = [
            f"Executed {when}{', ' + said if said else ''}: {len(runs)} notebooks in {total:.0f} s.{kept}",
            "",
            "| chapter | " + "".join(f"{k} | " for k in varying)
            + "seconds | inversions computed / read | claims held |",
            "| --- | " + "--- | " * len(varying) + "---: | ---: | --- |",
        ]
        lines += [
            f"| {r['link']} | " + "".join(f"{r[k]} | " for k in varying)
            + f"{r['seconds']} | {r['inversions']} | {r['held']} |"
            for r in rows
        ]
        lines += ["", "| chapter | claim | against | verdict |", "| --- | --- | --- | --- |"]
        for run, row in zip(runs, rows, strict=True):
            for i, c in enumerate(run["claims"]):
                said = verdict(c) if kind(c) == "holds" else f"**{verdict(c)}**"
                cells = f"{_cell(c['statement'])} | {_cell(against(c))} | {said}"
                lines.append(f"| {row['link'] if i == 0 else ''} | {cells} |")
        return self.parse_text_to_nodes("\n".join(lines))


class Findings(SphinxDirective):
    """``depthrep-findings``: every executed claim that did not simply hold, by verdict, with the
    numbers it measured and the profile it ran at (read from ``summary.json``, so it cannot
    drift from the chapters)."""

    def run(self) -> list[nodes.Node]:
        runs = recorded_runs(self)
        if runs is None:
            return [nodes.paragraph(text="No run has been recorded yet.")]
        lines = findings_markdown(runs)
        if not lines:
            return [nodes.paragraph(text="Every claim of the recorded run held, in the paper's direction.")]
        return self.parse_text_to_nodes("\n".join(lines))


def findings_markdown(runs: list[dict]) -> list[str]:
    """Markdown lines: a titled table per verdict other than ``holds`` (in the order of
    :data:`depthrep.book.report.VERDICTS`), a table row per claim with its chapter, profile, statement,
    baseline and measured values. No line where every claim held."""
    lines: list[str] = []
    for said in VERDICTS[1:]:
        found = [(run, c) for run in runs for c in run["claims"] if kind(c) == said]
        if not found:
            continue
        lines += ["", f"**{said[0].upper()}{said[1:]} ({len(found)})**", ""]
        lines += ["| chapter | profile | claim | against | measured |", "| --- | --- | --- | --- | --- |"]
        for run, c in found:
            link = f"{{doc}}`/{CHAPTERS}/{Path(run['notebook']).stem}`"
            measured = ", ".join(f"{k} = {_number(v)}" for k, v in c["values"].items())
            lines.append(
                f"| {link} | `{run['profile']}` | {_cell(c['statement'])} | {_cell(against(c))} | "
                f"{_cell(measured)} |"
            )
    return lines


def _number(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_number(v) for v in value) + "]"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


TABLES = {
    "profiles": lambda found=profiles.PROFILES: [profiles.describe(p) for p in found.values()],
    "methods": lambda found=methods.METHODS: [methods.describe(name, m) for name, m in found.items()],
    "worlds": lambda found=profiles.PROFILES: [profiles.describe_worlds(p) for p in found.values()],
}
"""The rows of each ``depthrep-table``, read from the package's registry (or from the one passed)."""


class PackageTable(SphinxDirective):
    """``depthrep-table``: one of :data:`TABLES` (its argument), as a Markdown table."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        name = self.arguments[0]
        if name not in TABLES:
            raise self.error(f"depthrep-table takes one of {', '.join(TABLES)}, not {name!r}")
        return self.parse_text_to_nodes("\n".join(markdown_table(TABLES[name]())))


def markdown_table(rows: list[dict[str, str]]) -> list[str]:
    """Lines of a Markdown table, its columns the keys of the first row."""
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    return lines + ["| " + " | ".join(row[c].replace("|", "\\|") for c in columns) + " |" for row in rows]


def _banner(text: str) -> tuple[str, str, str, str]:
    """``(device, torch, started, precision)`` from a run banner (``depthrep.book.report.Run.describe``):
    "profile ci · cpu (2 threads, x86_64, AVX512, native bfloat16) · torch 2.14.1 ·
    2026-11-25 04:20 UTC · inversion float32, training bfloat16"; missing fields are empty."""
    _, device, torch, started, precision = [*text.split(" · "), "", "", "", "", ""][:5]
    return device, torch, started, precision


def _describe(run: dict) -> dict[str, str]:
    """One chapter's row of the run summary, as Markdown cells."""
    device, torch, started, precision = _banner(run.get("device") or "")
    if precision:
        device = f"{device}; {precision}"
    return {
        "link": f"{{doc}}`/{CHAPTERS}/{Path(run['notebook']).stem}`",
        "profile": f"`{run['profile']}`",
        "device": _cell(device),
        "torch": _cell(torch.removeprefix("torch ")),
        "started": started,
        "seconds": f"{run['seconds']:.0f}",
        "inversions": f"{run.get('computed', 0)} / {run.get('read', 0)}",
        "held": tally(run["claims"]) + ("" if run["status"] == "ok" else " (**run failed**)"),
    }


def _cell(text: str) -> str:
    return text.replace("|", "\\|") or "?"
