import pytest

from depthrep import PROFILES, get_profile


def test_three_profiles_grow_in_size():
    ci, laptop, paper = (PROFILES[n] for n in ("ci", "laptop", "paper"))
    for field in ("size", "steps", "run_steps", "fc_size", "fc_steps"):
        assert getattr(ci, field) <= getattr(laptop, field) <= getattr(paper, field), field
    assert paper.size == 299 and paper.fc_size == 29  # the paper's sizes
    assert all(len(p.seeds) >= 2 for p in PROFILES.values())  # every claim is checked on two seeds at least
    for p in (ci, laptop, paper):  # the budgets span two orders of magnitude, growing with the profile
        assert p.run_budgets == tuple(sorted(p.run_budgets)) and p.run_budgets[-1] >= 100 * p.run_budgets[0]
    assert ci.run_budgets[-1] <= laptop.run_budgets[-1] <= paper.run_budgets[-1]


def test_overrides_replace_fields_and_ignore_none():
    p = get_profile("ci", steps=7, models=["resnet18"], size=None)
    assert p.steps == 7 and p.models == ("resnet18",) and p.size == PROFILES["ci"].size
    assert PROFILES["ci"].steps != 7  # the table itself is untouched


def test_unknown_profile_and_field_list_the_valid_ones():
    with pytest.raises(ValueError, match="ci, laptop, paper"):
        get_profile("huge")
    with pytest.raises(ValueError, match="Valid ones are"):
        get_profile("ci", stepz=3)


def test_unknown_names_suggest_the_nearest():
    with pytest.raises(ValueError, match="Did you mean 'laptop'"):
        get_profile("laptp")
    with pytest.raises(ValueError, match="Did you mean 'steps'"):
        get_profile("ci", stepz=3)
