import pytest

from depthrep.profiles import PROFILES, get_profile


def test_profiles_grow_in_size():
    order = [PROFILES[n] for n in ("ci", "laptop", "workstation", "paper")]
    assert list(PROFILES) == [p.name for p in order]  # the book's table lists them small to large
    sizes = (
        "size",
        "steps",
        "run_steps",
        "fc_size",
        "fc_steps",
        "imagenet_size",
        "imagenet_steps",
        "world_steps",
        "world_batch",
        "judge_steps",
    )
    for field in sizes:
        values = [getattr(p, field) for p in order]
        assert values == sorted(values), field
    for field in ("models", "images", "seeds", "run_budgets", "world_seeds"):
        values = [len(getattr(p, field)) for p in order]
        assert values == sorted(values), field
    paper = PROFILES["paper"]
    assert paper.size == 299 and paper.fc_size == 29  # the paper's sizes
    assert all(len(p.seeds) >= 2 for p in PROFILES.values())  # every claim is checked on two seeds at least
    for p in order:  # the budgets span two orders of magnitude, growing with the profile
        assert p.run_budgets == tuple(sorted(p.run_budgets)) and p.run_budgets[-1] >= 100 * p.run_budgets[0]
    budgets = [p.run_budgets[-1] for p in order]
    assert budgets == sorted(budgets)


def test_overrides_replace_fields_and_ignore_none():
    p = get_profile("ci", steps=7, models=["resnet18"], size=None)
    assert p.steps == 7 and p.models == ("resnet18",) and p.size == PROFILES["ci"].size
    assert PROFILES["ci"].steps != 7  # the table itself is untouched


def test_unknown_profile_and_field_list_the_valid_ones():
    with pytest.raises(ValueError, match="ci, laptop, workstation, paper"):
        get_profile("huge")
    with pytest.raises(ValueError, match="Valid ones are"):
        get_profile("ci", stepz=3)


def test_unknown_names_suggest_the_nearest():
    with pytest.raises(ValueError, match="Did you mean 'laptop'"):
        get_profile("laptp")
    with pytest.raises(ValueError, match="Did you mean 'steps'"):
        get_profile("ci", stepz=3)
