"""The notebooks as committed: output-free, one parameters cell, a claim check at the end."""

import json

import nbformat
import pytest

from depthrep.run import notebooks

NOTEBOOKS = notebooks()


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
    assert "depthrep.check(run" in code[-1]
    assert any("{cite}`badger2022depth`" in c.source for c in nb.cells if c.cell_type == "markdown")


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
