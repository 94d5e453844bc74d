"""The executed chapters' claims, read back from ``summary.json`` of an executed folder.

``make test`` runs these after the notebooks (``pytest -m executed`` with ``DEPTHREP_EXECUTED``
set to its folder: there a missing summary fails). Run alone, they read ``build/notebooks`` and
skip where nothing was executed.
"""

import ast
import json
import os
import re
from pathlib import Path

import pytest
from conftest import ROOT

EXECUTED = Path(os.environ.get("DEPTHREP_EXECUTED", ROOT / "build" / "notebooks"))
UNTRAINED = ("01_method", "03_depth", "04_over_the_run", "05_width", "06_conditioning", "07_pooling",
             "12_architectures")  # fmt: skip
"""Chapters on untrained models: every claim there holds per target, on each of the profile's images."""

pytestmark = pytest.mark.executed


@pytest.fixture(scope="module")
def summary() -> dict:
    path = EXECUTED / "summary.json"
    if not path.exists():
        if "DEPTHREP_EXECUTED" in os.environ:
            pytest.fail(f"{path} is missing: the notebooks were not executed into {EXECUTED}")
        pytest.skip(f"no executed notebooks in {EXECUTED} (run `make notebooks` first)")
    return json.loads(path.read_text())


def claims(summary: dict) -> list[tuple[str, dict]]:
    return [(n["notebook"], c) for n in summary["notebooks"] for c in n["claims"]]


def contrasts(summary: dict) -> list[tuple[str, dict]]:
    return [(nb, c) for nb, c in claims(summary) if c.get("contrast")]


def test_every_claim_names_its_margin_and_baseline(summary):
    found = claims(summary)
    assert found, "the summary holds no claim"
    unnamed = [f"{nb}: {c['statement']}" for nb, c in found if not (c.get("baseline") and c.get("margin"))]
    assert not unnamed, unnamed


def test_no_claim_is_satisfied_by_what_it_contrasts_with(summary):
    assert contrasts(summary), "no claim sets one layer against another"
    blurred = [
        f"{nb}: {c['statement']} (at {c['contrast']})" for nb, c in contrasts(summary) if c["contrast_holds"]
    ]
    assert not blurred, blurred


def banner_images(notebook: Path) -> tuple[str, ...]:
    """The ``images`` the run used, from the settings line that ``depthrep.book.start`` shows."""
    executed = json.loads(notebook.read_text())
    for cell in executed["cells"]:
        for output in cell.get("outputs", []):
            text = "".join(output.get("data", {}).get("text/plain", ""))
            found = re.search(r"images=(\([^)]*\))", text)
            if found:
                return tuple(ast.literal_eval(found.group(1)))
    raise AssertionError(f"{notebook.name} shows no run banner with its images")


def test_the_untrained_chapters_ran_on_two_targets_or_more(summary):
    ran = {Path(n["notebook"]).stem for n in summary["notebooks"]}
    assert set(UNTRAINED) <= ran, sorted(set(UNTRAINED) - ran)
    for notebook in UNTRAINED:
        images = banner_images(EXECUTED / f"{notebook}.ipynb")
        assert len(images) >= 2, f"{notebook} ran on {images}"
        executed = json.loads((EXECUTED / f"{notebook}.ipynb").read_text())
        source = "".join("".join(c["source"]) for c in executed["cells"] if c["cell_type"] == "code")
        assert "load_images(p.images" in source, f"{notebook} does not invert every image of its run"
