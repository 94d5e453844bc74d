"""The executed chapters' claims, read back from ``build/notebooks/summary.json``.

Run by ``make test`` after the notebooks (``pytest -m executed``); skipped where nothing was
executed. ``DEPTHREP_EXECUTED`` checks a folder executed elsewhere.
"""

import json
import os
from pathlib import Path

import pytest

from depthrep import get_profile

ROOT = Path(__file__).resolve().parent.parent
EXECUTED = Path(os.environ.get("DEPTHREP_EXECUTED", ROOT / "build" / "notebooks"))
UNTRAINED = ("01_method", "03_depth", "04_over_the_run", "05_width", "06_conditioning", "07_pooling")
"""Chapters on untrained models: every claim there holds per target, on each of the profile's images."""

pytestmark = pytest.mark.executed


@pytest.fixture(scope="module")
def summary() -> dict:
    path = EXECUTED / "summary.json"
    if not path.exists():
        pytest.skip(f"no executed notebooks in {EXECUTED} (run `make notebooks` first)")
    return json.loads(path.read_text())


def claims(summary: dict) -> list[tuple[str, dict]]:
    return [(n["notebook"], c) for n in summary["notebooks"] for c in n["claims"]]


def test_every_claim_names_its_margin_and_baseline(summary):
    found = claims(summary)
    assert found, "the summary holds no claim"
    unnamed = [f"{nb}: {c['statement']}" for nb, c in found if not (c.get("baseline") and c.get("margin"))]
    assert not unnamed, unnamed


def test_no_claim_is_satisfied_by_what_it_contrasts_with(summary):
    blurred = [
        f"{nb}: {c['statement']} (at {c['contrast']})"
        for nb, c in found_contrasts(summary)
        if c["contrast_holds"]
    ]
    assert not blurred, blurred
    assert found_contrasts(summary), "no claim sets one layer against another"


def found_contrasts(summary: dict) -> list[tuple[str, dict]]:
    return [(nb, c) for nb, c in claims(summary) if c.get("contrast")]


def test_the_untrained_chapters_ran_on_two_targets_or_more(summary):
    images = get_profile(summary["profile"]).images
    assert len(images) >= 2, images
    ran = {Path(n["notebook"]).stem for n in summary["notebooks"]}
    assert set(UNTRAINED) <= ran, sorted(set(UNTRAINED) - ran)
    for notebook in UNTRAINED:
        executed = json.loads((EXECUTED / f"{notebook}.ipynb").read_text())
        source = "".join("".join(c["source"]) for c in executed["cells"] if c["cell_type"] == "code")
        assert "load_images(p.images" in source, f"{notebook} does not invert every image of the profile"
