"""The named claim builders of the book: each holds, fails and refuses to decide where it should."""

import pytest
from conftest import made

import depthrep


def test_farther_with_depth_holds_per_member_and_only_on_converged_runs():
    early = made("conv1", (1.0, 1.0))
    c = depthrep.book.farther_with_depth(early, made("conv5", (3.0, 2.5)), 2, who="resnet50")
    assert c.verdict == "holds" and c.statement == "resnet50: m_i at conv5 > 2x m_i at conv1"
    assert c.values == {"m_i conv1": [1.0, 1.0], "m_i conv5": [3.0, 2.5]} and c.margin == "2x"
    assert not depthrep.book.farther_with_depth(early, made("conv5", (3.0, 1.5)), 2).holds
    with pytest.raises(ValueError, match="two runs at conv1"):
        depthrep.book.farther_with_depth(early, early, 2)
    unfinished = made("conv5", (3.0, 3.0), m_g=(1.0, 9.0))  # member 2 above m_r: not converged
    assert depthrep.book.farther_with_depth(early, unfinished, 2).verdict == "did not converge"


def test_non_uniqueness_needs_the_inequality_deep_and_its_failure_early():
    early = made("conv1", (0.5, 0.5))  # closer than a' in pixels: the inequality fails there
    deep = made("conv5", (3.0, 3.0))
    c = depthrep.book.non_uniqueness(early, deep, who="resnet50")
    assert c.verdict == "holds" and c.contrast == "conv1" and c.contrast_holds is False
    assert c.statement.startswith("resnet50 conv5: m_g < m_r while m_i > ||a' - a|| (closer than a'")
    # the early layer satisfying it too separates nothing
    assert depthrep.book.non_uniqueness(made("conv1", (3.0, 0.5)), deep).verdict == "fails"
    # m_g above m_r (a run that did not get there, or one frozen where it diverged) never holds
    assert not depthrep.book.non_uniqueness(early, made("conv5", (3.0, 3.0), m_g=(1.0, 3.0))).holds
    loose = depthrep.book.non_uniqueness(early, made("conv5", (3.0, 3.0), m_g=(2.5, 2.5)), slack=1.5)
    assert loose.holds and "m_g < 1.5 m_r" in loose.statement and "about as well as a'" in loose.statement


def test_still_falls_measures_the_last_decade_of_budget():
    budgets = {100: {"conv5": made("conv5", (8.0, 8.0))}, 1000: {"conv5": made("conv5", (4.0, 7.9))},
               10_000: {"conv5": made("conv5", (2.0, 7.8))}}  # fmt: skip
    c = depthrep.book.still_falls(budgets, "conv5", 1.05)
    assert c.values == {"m_i_fall": [2.0, 1.013]} and not c.holds  # the second member levelled off
    assert depthrep.book.still_falls({k: v for k, v in budgets.items() if k < 10_000}, "conv5", 1.0).holds


def test_grows_with_depth_needs_every_step_up_on_every_member():
    rising = {
        "1 layer": made("fc", (1.0, 1.0)),
        "2 layers": made("fc", (2.0, 1.5)),
        "4 layers": made("fc", (3.0, 2.0)),
    }
    c = depthrep.book.grows_with_depth(rising, what="m_i grows", baseline="one step shallower")
    assert c.holds and c.margin == "order" and c.values["m_i 4 layers"] == [3.0, 2.0]
    rising["8 layers"] = made("fc", (4.0, 1.9))  # member 2 steps back
    assert not depthrep.book.grows_with_depth(rising, what="m_i grows", baseline="one step shallower").holds
    with pytest.raises(ValueError, match="needs two"):
        depthrep.book.grows_with_depth({"1 layer": rising["1 layer"]}, what="m_i grows", baseline="-")
