"""The notebooks as committed: output-free, one parameters cell, a claim check at the end."""

import dataclasses
import importlib
import json
import math
import numbers
import pkgutil
import re
import sys

import nbformat
import pytest
import torch
from conftest import ROOT

import depthrep
from depthrep.book.run import notebooks

NOTEBOOKS = notebooks(ROOT / "notebooks")


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 6


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: strip outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_cell_has_a_unique_id(path):
    """nbformat 4.5 cells carry ids; a cell added by hand without one is a warning today, an error later."""
    ids = [
        c.get("id") for c in json.loads(path.read_text())["cells"]
    ]  # as stored: nbformat would fill them in
    assert None not in ids and len(set(ids)) == len(ids), f"{path.name}: run nbformat's normalize()"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_one_parameters_cell_with_the_laptop_profile(path):
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assert 'profile = "laptop"' in tagged[0].source


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.stem[0].isdigit()], ids=lambda p: p.name)
def test_chapters_end_with_a_claim_check_and_cite_the_paper(path):
    nb = nbformat.read(path, as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert "depthrep.book.check(run" in code[-1]
    assert any("{cite}`badger2022depth`" in c.source for c in nb.cells if c.cell_type == "markdown")


def setup_cell(path) -> nbformat.NotebookNode:
    """The first code cell: the one that installs depthrep where it is missing (Colab)."""
    return next(c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_opens_with_the_same_setup_cell_hidden_from_the_book(path):
    """Colab's launch button opens a bare kernel: each notebook's first code cell installs the
    package there, the same cell everywhere, removed from the rendered page."""
    first, reference = setup_cell(path), setup_cell(NOTEBOOKS[0])
    assert first.source == reference.source, f"{path.name}: copy the set-up cell of {NOTEBOOKS[0].name}"
    assert "remove-cell" in first.metadata.get("tags", []), f"{path.name}: tag the set-up cell remove-cell"


def _run_setup(source: str, *, installed: bool, pip_fails: bool = False, colab: bool = False):
    """Execute the set-up cell with the package ``installed`` or not, pip failing or not, in Colab
    or not: the commands it would run, and the calls that switch on Colab's widget manager."""
    import importlib.util
    import subprocess
    import types

    with pytest.MonkeyPatch.context() as patch:  # undone at once: calls do not stack
        calls, widgets = [], []
        real = importlib.util.find_spec
        missing = set() if installed else {"depthrep"}
        patch.setattr(importlib.util, "find_spec", lambda n, *a: None if n in missing else real(n, *a))
        done = types.SimpleNamespace(returncode=1 if pip_fails else 0, stderr="ERROR: no route to github.com")
        patch.setattr(subprocess, "run", lambda command, **kw: calls.append((command, kw)) or done)
        if colab:
            output = types.SimpleNamespace(enable_custom_widget_manager=lambda: widgets.append(1))
            colab_module = types.SimpleNamespace(output=output)
            patch.setitem(sys.modules, "google", types.SimpleNamespace(colab=colab_module))
            patch.setitem(sys.modules, "google.colab", colab_module)
            patch.setitem(sys.modules, "google.colab.output", output)
        exec(compile(source, "setup", "exec"), {})
        return calls, widgets


def test_the_setup_cell_installs_the_repository_only_where_depthrep_is_missing():
    import yaml
    from packaging.requirements import Requirement

    source = setup_cell(NOTEBOOKS[0]).source
    assert _run_setup(source, installed=True) == ([], [])
    [(command, kw)], widgets = _run_setup(source, installed=False)
    assert command[1:4] == ["-m", "pip", "install"] and kw["capture_output"] and not widgets
    requirement = Requirement(command[-1])
    assert requirement.name == "depthrep" and requirement.extras == {"widgets"}
    # the repository and branch the book's launch buttons open (_config.yml), so one notebook is installed
    repository = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    assert requirement.url == f"git+{repository['url']}@{repository['branch']}"


def test_the_setup_cell_says_why_pip_failed_and_switches_on_colabs_widgets():
    source = setup_cell(NOTEBOOKS[0]).source
    with pytest.raises(RuntimeError, match=r"(?s)pip could not install depthrep.*no route to github\.com"):
        _run_setup(source, installed=False, pip_fails=True)
    assert _run_setup(source, installed=True, colab=True) == ([], [1])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_define_nothing_and_use_only_the_public_package(path):
    """Computation lives in depthrep: a notebook defines no function or class, and reaches the
    package only as ``import depthrep`` (its public API), never a submodule."""
    import ast

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(cell.source)):
            defined = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda
            if isinstance(node, defined):
                first = (ast.get_source_segment(cell.source, node) or "").splitlines()[0]
                pytest.fail(f"{path.name}: `{first}`: move it into depthrep")
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("depthrep"), (
                    f"{path.name}: `from {node.module} import`"
                )
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
                assert all(n == "depthrep" or not n.startswith("depthrep") for n in names), (
                    f"{path.name}: {names}"
                )


MEASURED_BOX = re.compile(r"```\{admonition\}[^\n]*\n:class: measured\n.*?\n```", re.S)
"""A box of numbers measured in earlier runs: MyST's admonition with the class ``measured``."""
DECIMAL = re.compile(r"(?<![\w.])(\d+\.\d+)(?:\s*\\cdot\s*10\^\{(-?\d+)\})?(?![\w.])")
"""A decimal number in prose, with its power of ten where written as ``2.2 \\cdot 10^{-16}``."""


def settings() -> set[float]:
    """Every number depthrep holds as a setting: its constants, presets and profiles (the
    upper-case names of its modules, into tuples, dicts and dataclasses), and the machine
    epsilons of float64 and float32."""
    found: set[float] = {torch.finfo(torch.float64).eps, torch.finfo(torch.float32).eps}

    def add(value):
        if isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value):
            found.add(float(value))
        elif isinstance(value, tuple | list):
            for v in value:
                add(v)
        elif isinstance(value, dict):
            for v in value.values():
                add(v)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            for field in dataclasses.fields(value):
                add(getattr(value, field.name))

    for module in pkgutil.walk_packages(depthrep.__path__, "depthrep."):  # every wing's modules too
        for name, value in vars(importlib.import_module(module.name)).items():
            if name.isupper():
                add(value)
    return found


def unexplained_numbers(nb, known: set[float]) -> list[str]:
    """The decimal numbers of ``nb``'s prose that are neither settings (``known``, or a literal
    of the notebook's own code or of the claims module it checks with, ``depthrep.book.chapters.*``:
    a claim's margin written before the run) nor inside a box of numbers measured in earlier
    runs, each with the words before it."""
    code = " ".join(c.source for c in nb.cells if c.cell_type == "code")
    for chapter in set(re.findall(r"depthrep\.book\.chapters\.(\w+)", code)):
        code += (ROOT / "depthrep" / "book" / "chapters" / f"{chapter}.py").read_text()
    written = {float(x) for x in re.findall(r"(?<![\w.])\d+\.\d+(?:e-?\d+)?", code)}
    found = []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        prose = MEASURED_BOX.sub("", cell.source)
        for match in DECIMAL.finditer(prose):
            digits, power = match.group(1), int(match.group(2) or 0)
            places = len(digits.split(".")[1])
            if any(round(v / 10**power, places) == float(digits) for v in known | written):
                continue
            found.append(" ".join(prose[max(0, match.start() - 50) : match.end()].split()))
    return found


@pytest.fixture(scope="module")
def known_settings() -> set[float]:
    return settings()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_prose_quotes_no_number_that_a_run_computes(path, known_settings):
    """A number the run computes belongs in its output, where it cannot drift from the run (a
    chapter's prose once gave error-gain ratios that the table beside them contradicted). The
    prose may hold settings, and numbers of earlier runs in a box that says so."""
    stray = unexplained_numbers(nbformat.read(path, as_version=4), known_settings)
    assert not stray, (
        f"{path.name}: numbers in prose that are no setting: {stray}; show this run's value in an output, "
        "or put an earlier run's in a box (a MyST admonition with :class: measured)"
    )


def test_a_stray_number_is_caught_and_a_boxed_or_written_one_is_not(known_settings):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("claim(ratio > 2.5)"),
        nbformat.v4.new_markdown_cell(
            "At `conv5` $m_i$ was 3.14 times the shift; the margin is 2.5; the default lr starts at 0.1; "
            "$\\varepsilon = 2.2 \\cdot 10^{-16}$.\n\n"
            "```{admonition} Measured in earlier runs, not on this page\n:class: measured\nIt was 2.72.\n```"
        ),
    ]
    assert unexplained_numbers(nb, known_settings) == ["At `conv5` $m_i$ was 3.14"]
