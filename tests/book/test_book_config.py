"""The book's configuration: every notebook is a chapter, nothing executes twice, the pages
load their scripts locally, every citation and page link resolves. CPU only, no build, a second or two."""

import dataclasses
import importlib.util
import json
import re
from pathlib import Path

import nbformat
import pytest
import torch
import yaml
from conftest import ROOT

from depthrep.book import report
from depthrep.book.report import CLAIMS_MIME
from depthrep.book.run import NOTEBOOKS, notebooks
from depthrep.profiles import PROFILES, get_profile

CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
SPHINX = CONFIG["sphinx"]["config"]


def load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def toc_files() -> list[str]:
    """Every page of ``_toc.yml``, the root first, in reading order."""
    files = [TOC["root"]]

    def walk(entries):
        for entry in entries:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections", []))

    for part in TOC.get("parts", [{"chapters": TOC.get("chapters", [])}]):
        walk(part["chapters"])
    return files


def test_toc_lists_exactly_the_notebooks_the_runner_executes():
    chapters = [f for f in toc_files() if f.startswith(f"{NOTEBOOKS.name}/")]
    on_disk = [f"{NOTEBOOKS.name}/{p.stem}" for p in notebooks(ROOT / NOTEBOOKS)]
    missing, gone = sorted(set(on_disk) - set(chapters)), sorted(set(chapters) - set(on_disk))
    assert not missing, f"notebooks not in _toc.yml (add `- file: ...` to a part): {missing}"
    assert not gone, f"_toc.yml lists notebooks that do not exist: {gone}"
    assert sorted(chapters) == chapters, "chapters should appear in file-name order, as they execute"


def test_toc_pages_exist_once_each():
    files = toc_files()
    assert len(files) == len(set(files)), "a page is listed twice"
    for f in files:
        assert (ROOT / f"{f}.md").is_file() or (ROOT / f"{f}.ipynb").is_file(), f"{f} is missing"
    for page in ("book/intro", "book/method", "book/rerun", "book/bibliography", "book/runs"):
        assert page in files
    assert files[0] == "book/intro"


def test_the_book_never_executes_and_renders_the_runner_output():
    assert CONFIG["execute"]["execute_notebooks"] == "off"
    assert CONFIG["only_build_toc_files"] is True
    assert SPHINX["depthrep_executed"] == "build/notebooks"
    makefile = (ROOT / "Makefile").read_text()
    assert f"EXECUTED := {SPHINX['depthrep_executed']}" in makefile
    assert "jupyter-book build --all -W --keep-going" in makefile


def test_runner_only_output_is_dropped_from_pages():
    extension = load(ROOT / "book" / "_ext" / "depthrep_book.py")
    assert CLAIMS_MIME in extension.RUNNER_ONLY


@pytest.mark.parametrize("profile", list(PROFILES))  # each has its sentence on the scale
def test_each_chapter_says_which_run_made_it(profile):
    extension = load(ROOT / "book" / "_ext" / "depthrep_book.py")
    run = report.Run(get_profile(profile), torch.device("cpu"), 1764044400.0)  # 2025-11-25 04:20 UTC
    banner = run.describe()
    device, precisions = banner.split(" · ")[1], banner.split(" · ")[4]
    nb = {
        "metadata": {"papermill": {"parameters": {"profile": profile}, "duration": 28.4, "exception": None}},
        "cells": [{"cell_type": "code", "outputs": [{"data": {
            "text/html": '<div class="depthrep-run">...</div>', "text/plain": f"{banner}\nsize=64"}}]}],
    }  # fmt: skip
    note = extension.run_note(nb)["source"]
    assert f"**`{profile}`** on {device} ({precisions}) with torch {torch.__version__}" in note
    assert "in 28 s" in note and "2025-11-25 04:20 UTC" in note and extension.SCALE[profile] in note
    assert ("paper's scale" in note) == (profile == "paper")
    summary = {"notebook": "03_depth.ipynb", "profile": profile, "device": banner, "seconds": 28.4,
               "status": "ok", "claims": []}  # fmt: skip
    row = extension._describe(summary)
    assert row["device"] == f"{device}; {precisions}" and row["torch"] == torch.__version__
    assert row["started"] == "2025-11-25 04:20 UTC"


def test_offline_scripts_come_from_the_vendored_folder():
    vendor = load(ROOT / "book" / "vendor.py")
    static = SPHINX["html_static_path"]
    assert vendor.OFFLINE.parent.relative_to(ROOT).as_posix() in static
    assert not (ROOT / "_static").exists(), "Jupyter Book adds every .js in _static/ to every page"
    offline = vendor.OFFLINE.name
    scripts = [SPHINX["mathjax_path"], *SPHINX["nb_ipywidgets_js"]]
    for script in scripts:
        assert "://" not in script, f"{script} would need a network"
        if script.startswith(f"{offline}/"):
            assert script.removeprefix(f"{offline}/") in vendor.FILES, f"vendor.py does not install {script}"
        else:
            assert any((ROOT / folder / script).is_file() for folder in static), f"{script} is missing"


def test_npm_packages_are_pinned_and_locked():
    package = json.loads((ROOT / "package.json").read_text())
    lock = json.loads((ROOT / "package-lock.json").read_text())
    vendor = load(ROOT / "book" / "vendor.py")
    deps = package["dependencies"]
    assert set(vendor.PACKAGES) == set(deps)
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", v) for v in deps.values()), "pin exact versions"
    assert lock["packages"][""]["dependencies"] == deps, "package-lock.json is stale: run `npm install`"
    for name, version in deps.items():
        assert lock["packages"][f"node_modules/{name}"]["version"] == version


def test_launch_buttons_open_the_repository_notebooks():
    assert CONFIG["repository"]["url"].startswith("https://github.com/")
    assert CONFIG["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert CONFIG["launch_buttons"]["binderhub_url"] == "https://mybinder.org"


def page_texts() -> dict[str, str]:
    """The prose of every page, by its name in ``_toc.yml``: the book's markdown pages and the
    chapters' markdown cells."""
    pages = {f"book/{p.stem}": p.read_text() for p in (ROOT / "book").glob("*.md")}
    for path in notebooks(ROOT / NOTEBOOKS):
        prose = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown"]
        pages[f"{path.parent.name}/{path.stem}"] = "\n".join(prose)
    return pages


def cited_keys() -> set[str]:
    keys = set()
    for text in page_texts().values():
        for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", text):
            keys.update(k.strip() for k in group.split(","))
    return keys


def test_every_doc_link_names_a_page_of_the_book():
    """``{doc}`/book/rerun``` from the root, ``{doc}`rerun``` beside the page: the build
    with ``-W`` fails on any other, after every notebook has run."""
    pages = set(toc_files())
    wrong = []
    for page, text in page_texts().items():
        for target in re.findall(r"\{doc\}`(?:[^`<]*<)?([^`>]+)>?`", text):
            resolved = target.lstrip("/") if target.startswith("/") else f"{page.rsplit('/', 1)[0]}/{target}"
            if resolved.removesuffix(".md").removesuffix(".ipynb") not in pages:
                wrong.append(f"{page}: {target}")
    assert not wrong, f"links to no page of _toc.yml: {wrong}"


def test_every_citation_is_in_the_bibliography():
    bib = "\n".join((ROOT / f).read_text() for f in CONFIG["bibtex_bibfiles"])
    entries = set(re.findall(r"@\w+\{([^,\s]+),", bib))
    assert {"badger2022depth", "mahendran2015understanding", "he2016powerful"} <= entries
    missing = cited_keys() - entries
    assert not missing, f"cited but not in {CONFIG['bibtex_bibfiles']}: {sorted(missing)}"


@pytest.mark.parametrize("table", ["profiles", "methods", "worlds"])
def test_package_tables_are_read_from_the_package(table):
    """The book's profile and preset tables come from depthrep's registries, row for row, so a
    changed size shows at once (shown here on changed copies: no test writes into a registry)."""
    from depthrep import profiles
    from depthrep.core import methods

    extension = load(ROOT / "book" / "_ext" / "depthrep_book.py")
    registry = profiles.PROFILES if table != "methods" else methods.METHODS
    assert extension.TABLES[table].__defaults__ == (registry,)  # the package's own, not a copy
    lines = extension.markdown_table(extension.TABLES[table]())
    assert len(lines) == 2 + len(registry)
    if table == "methods":
        changed = {**registry, "paper": methods.get_method("paper", lr=(0.7, 0.5))}
    else:
        changed = {**registry, "ci": dataclasses.replace(registry["ci"], steps=12345, world_steps=23456)}
    seen = "\n".join(extension.markdown_table(extension.TABLES[table](changed)))
    assert {"profiles": "12345", "methods": "0.7 → 0.5", "worlds": "23456"}[table] in seen
    assert any(
        f"{{depthrep-table}} {table}" in (ROOT / "book" / page).read_text()
        for page in ("rerun.md", "method.md")
    )


def test_the_findings_page_lists_every_claim_that_did_not_simply_hold_by_verdict():
    extension = load(ROOT / "book" / "_ext" / "depthrep_book.py")
    made = [
        report.claim("plain", True, baseline="b", margin="1x", x=1.0),
        report.claim("mixed", [True, False], baseline="b", margin="1x", x=[1.0, 2.0]),
        report.claim("unfinished", True, baseline="b", margin="1x", converged=False, m_g_over_m_r=1.5),
        report.claim("measured way", True, baseline="b", margin="1x", departs=True, y=0.25),
    ]
    runs = [
        {"notebook": "08_training.ipynb", "profile": "ci", "claims": [dataclasses.asdict(c) for c in made]}
    ]
    text = "\n".join(extension.findings_markdown(runs))
    assert "plain" not in text
    sections = [line for line in text.splitlines() if line.startswith("**")]
    assert sections == ["**Departs (1)**", "**Undecided (1)**", "**Did not converge (1)**"]
    assert "m_g_over_m_r = 1.5" in text and "x = [1, 2]" in text and "`ci`" in text
    assert "{doc}`/notebooks/08_training`" in text
    assert extension.findings_markdown(runs[:0]) == []
    assert "{depthrep-findings}" in (ROOT / "book" / "findings.md").read_text()
