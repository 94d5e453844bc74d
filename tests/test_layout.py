"""The package's layout holds its architecture: each wing imports only the wings below it."""

import ast
import functools
from pathlib import Path

import pytest
from conftest import ROOT

PACKAGE = ROOT / "depthrep"
RANK = {
    "errors": 0,
    "_util": 1,
    "profiles": 1.5,
    "zoo": 2,
    "core": 3,
    "studies": 4,
    "plot": 5,
    "book": 6,
    "explorer": 6,
    "sweep": 6,
    "__init__": 7,
    "__main__": 7,
}
"""Wings from the bottom up: the plumbing, what goes in, the engine (and the job spec), the paper's
studies, the figures, the three faces (siblings: none imports another), the front door."""


def wing(module: str) -> str:
    """``depthrep.core.invert`` -> ``core``; ``depthrep.plot`` -> ``plot``; ``depthrep`` -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


@functools.cache
def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(module: str, path: Path) -> set[str]:
    """The depthrep modules ``module`` imports, anywhere in it (inside functions too)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            names = [f"{base}.{a.name}" for a in node.names]
            found |= {n if n in modules() else base for n in names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {n for n in found if n.split(".")[0] == "depthrep" and n != module}


def test_every_module_sits_in_a_known_wing():
    assert {wing(m) for m in modules()} <= set(RANK)
    for name in ("_util", "zoo", "core", "studies", "book", "explorer", "sweep"):
        assert (PACKAGE / name / "__init__.py").is_file(), f"depthrep/{name} is no package"


@pytest.mark.parametrize("module", sorted(modules()))
def test_no_wing_imports_one_above_it_or_a_sibling_face(module):
    here = wing(module)
    for imported in imports(module, modules()[module]):
        there = wing(imported)
        if there == here or (imported == "depthrep" and here in ("__main__",)):
            continue
        assert RANK[there] < RANK[here], f"{module} ({here}) imports {imported} ({there})"


def test_the_engine_imports_nothing_from_the_faces_the_studies_or_the_figures():
    for module, path in modules().items():
        if wing(module) in ("_util", "zoo", "core", "errors", "profiles"):
            above = {wing(i) for i in imports(module, path)} & {
                "studies",
                "plot",
                "book",
                "explorer",
                "sweep",
            }
            assert not above, f"{module} imports from {above}"


def test_the_check_catches_an_import_from_above(tmp_path, monkeypatch):
    """The layering check itself can fail: a core module that imports the explorer is caught."""
    fake = tmp_path / "invert.py"
    fake.write_text("from depthrep.explorer.session import Session\nfrom ..zoo import models\n")
    found = imports("depthrep.core.invert", fake)
    assert "depthrep.explorer.session" in found and "depthrep.zoo.models" in found
    assert RANK[wing("depthrep.explorer.session")] > RANK[wing("depthrep.core.invert")]


def public_names() -> list[str]:
    """The front door's names, then each namespace's as ``wing.name``: what API.txt lists."""
    import importlib

    import depthrep

    names = list(depthrep.__all__)
    for wing in depthrep.NAMESPACES:
        module = importlib.import_module(f"depthrep.{wing}")
        names += [f"{wing}.{name}" for name in module.__all__]
    return sorted(names)


def test_the_public_api_is_the_checked_in_list():
    """A public name that disappears (or appears), at the front door or behind a namespace such
    as ``depthrep.book``, fails here until ``depthrep/API.txt`` changes with it: the API changes
    on purpose, never by accident."""
    import operator

    import depthrep

    listed = [line for line in (PACKAGE / "API.txt").read_text().splitlines() if line and line[0] != "#"]
    assert listed == sorted(listed), "keep API.txt sorted"
    assert public_names() == listed
    assert all(operator.attrgetter(name)(depthrep) is not None for name in listed)


def test_the_front_door_holds_the_science_names_only():
    """About 30-40 names at ``import depthrep``; the book's plumbing and the error types sit behind
    their namespaces, and a namespace name never shadows one of its wing's modules."""
    import importlib
    import pkgutil

    import depthrep

    assert 30 <= len(depthrep.__all__) <= 40
    assert not {"claim", "check", "start", "table", "Run", "ClaimFailed"} & set(depthrep.__all__)
    assert [n for n in depthrep.__all__ if n.endswith(("Error", "Warning"))] == ["DepthrepError"]
    for wing in depthrep.NAMESPACES:
        module = importlib.import_module(f"depthrep.{wing}")
        if hasattr(module, "__path__"):
            modules = {m.name for m in pkgutil.iter_modules(module.__path__)}
            hidden = {  # a name of the wing's that is not the module of that name
                n
                for n in modules & set(module.__all__)
                if getattr(module, n) is not importlib.import_module(f"depthrep.{wing}.{n}")
            }
            assert not hidden, f"depthrep.{wing}: {hidden} hide modules of that name"
