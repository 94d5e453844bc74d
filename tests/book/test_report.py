import pytest
import torch

from depthrep._util import precision
from depthrep.book import report
from depthrep.book.report import CLAIMS_MIME, ClaimFailed, check, claim, converged, start, tally
from depthrep.profiles import get_profile


@pytest.fixture
def shown(monkeypatch):
    bundles = []
    monkeypatch.setattr(report, "_display", bundles.append)
    return bundles


def test_start_shows_profile_device_and_overrides(shown):
    run = start("ci", steps=11)
    assert run.profile.steps == 11
    text = shown[0]["text/plain"]
    assert "profile ci" in text and "steps=11" in text and run.device.type in text


def test_the_banner_names_cpu_capability_and_precisions(shown, monkeypatch):
    monkeypatch.delenv(precision.ENV, raising=False)
    for native, training in ((True, "training bfloat16"), (False, "training float32")):
        monkeypatch.setattr(precision, "bf16_native", lambda device, native=native: native)
        banner = report.Run(get_profile("ci"), torch.device("cpu"), 0.0).describe()
        assert f"{torch.backends.cpu.get_cpu_capability()}, " in banner
        assert f"inversion float32, {training}" in banner


def test_the_banner_counts_cpu_threads(shown):
    before = torch.get_num_threads()
    try:
        for threads, words in ((1, "1 thread,"), (2, "2 threads,")):
            torch.set_num_threads(threads)
            assert words in report.Run(get_profile("ci"), torch.device("cpu"), 0.0).describe()
    finally:
        torch.set_num_threads(before)


AGAINST = dict(baseline="y of the same run", margin="1x")


def test_claims_hold_per_seed_and_record_values():
    c = claim("x below y", torch.tensor([True, True]), **AGAINST, x=torch.tensor([1.0, 2.0]), y=3)
    assert c.holds and c.values == {"x": [1.0, 2.0], "y": 3.0}
    assert (c.baseline, c.margin, c.contrast, c.contrast_holds) == ("y of the same run", "1x", None, None)
    assert not claim("one seed fails", [torch.tensor([True, False]), True], **AGAINST).holds
    tiny = claim("tiny values keep their digits", True, **AGAINST, v=2.1413e-8)
    assert tiny.values["v"] == pytest.approx(2.141e-8)


def test_a_claim_names_its_baseline_and_margin():
    with pytest.raises(TypeError, match="baseline"):
        claim("x below y", True, margin="1x")
    with pytest.raises(TypeError, match="margin"):
        claim("x below y", True, baseline="y")


def test_a_claim_that_its_contrast_also_satisfies_fails(shown):
    deep = torch.tensor([5.0, 6.0])
    separates = claim(
        "deep above 2", deep > 2, **AGAINST, contrast="stem", contrast_test=torch.tensor([1.0, 0.5]) > 2
    )
    assert separates.holds and separates.contrast_holds is False
    blurred = claim(
        "deep above 2", deep > 2, **AGAINST, contrast="stem", contrast_test=torch.tensor([1.0, 3.0]) > 2
    )
    assert not blurred.holds and blurred.contrast_holds is True
    with pytest.raises(ClaimFailed):
        check(start("ci"), [blurred])
    text = shown[-1]["text/plain"]
    assert "its test also holds at stem" in text and "not at stem" in text
    with pytest.raises(ValueError, match="together"):
        claim("deep above 2", deep > 2, **AGAINST, contrast="stem")


def test_check_shows_a_table_and_raises_on_a_failed_claim(shown):
    run = start("ci")
    good = claim("holds", True, **AGAINST, a=1.0)
    bad = claim("fails", torch.tensor([False, False]), **AGAINST, b=[1, 2])
    with pytest.raises(ClaimFailed, match="fails"):
        check(run, [good, bad])
    table = shown[-1]
    assert "<table" in table["text/html"] and "fails" in table["text/plain"]
    assert [c["holds"] for c in table[CLAIMS_MIME]["claims"]] == [True, False]
    assert table[CLAIMS_MIME]["profile"] == "ci"
    assert table[CLAIMS_MIME]["claims"][0]["baseline"] == "y of the same run"
    assert "margin 1x over y of the same run" in table["text/html"]


def test_verdicts_mixed_members_are_undecided_unconverged_runs_decide_nothing(shown):
    mixed = claim("x below y", torch.tensor([True, False]), **AGAINST)
    assert (mixed.verdict, mixed.holds) == ("undecided", False)
    unfinished = claim("x below y", True, **AGAINST, converged=[torch.tensor([True, False])])
    assert (unfinished.verdict, unfinished.holds, unfinished.converged) == ("did not converge", False, False)
    finished = claim("x below y", True, **AGAINST, converged=torch.tensor([True, True]), departs=True)
    assert (finished.verdict, finished.holds) == ("departs", True)
    assert claim("x below y", [False, False], **AGAINST).verdict == "fails"
    check(start("ci"), [mixed, unfinished, finished])  # findings, not failures: nothing raised
    text = shown[-1]["text/plain"]
    assert "[undecided]" in text and "[did not converge]" in text and "[departs from the paper]" in text
    assert tally([mixed, unfinished, finished, finished]) == "2 departs, 1 undecided, 1 did not converge"
    with pytest.raises(ValueError, match="no verdict"):
        claim("x below y", [], **AGAINST)


def test_converged_needs_every_run_below_its_reference_and_finite(resnet18, hopper32):
    import depthrep

    results = depthrep.invert(resnet18, hopper32, ["conv1", "conv5"], steps=2, progress=False)
    conv1, conv5 = results["conv1"], results["conv5"]
    expected = (conv1.embedding_distance < conv1.reference_distance) & (
        conv5.embedding_distance < conv5.reference_distance
    )
    assert converged(conv1, conv5).tolist() == expected.tolist()
    assert converged(conv1).dtype == torch.bool


def test_a_finding_that_holds_nowhere_departs_and_does_not_stop_the_run(shown):
    said = {n: claim("the paper's claim", [n > 0, n > 1], **AGAINST, finding=True).verdict for n in (0, 1, 2)}
    assert said == {0: "departs", 1: "undecided", 2: "holds"}
    nowhere = claim("the paper's claim", [False, False], **AGAINST, finding=True)
    check(start("ci"), [nowhere])  # nothing raised
    assert "[departs from the paper]" in shown[-1]["text/plain"] and not nowhere.holds
    both = claim("x at conv5", True, **AGAINST, finding=True, contrast="conv1", contrast_test=[True])
    assert both.verdict == "fails"  # a test that also holds at its contrast separates nothing
    unfinished = claim("x", [False, False], **AGAINST, finding=True, converged=[True, False])
    assert unfinished.verdict == "did not converge"


def test_departures_are_labelled(shown):
    check(start("ci"), [claim("measured direction", True, **AGAINST, departs=True)])
    assert "departs from the paper" in shown[-1]["text/plain"]


def test_a_diverged_result_is_refused(shown, resnet18, hopper32):
    import warnings

    import depthrep

    method = depthrep.get_method("paper", lr=(1e5, 1e5), blur=None, clamp=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", depthrep.errors.DivergenceWarning)
        diverged = depthrep.invert(resnet18, hopper32, "conv5", steps=5, method=method, progress=False)
    assert diverged["conv5"].diverged.all()
    with pytest.raises(ClaimFailed, match="diverged"):
        check(start("ci"), [claim("some claim", True, **AGAINST)], results=[diverged])


def test_table_takes_every_key_and_shows_lists_of_numbers_per_seed(shown):
    from depthrep.book import table

    table([{"a": 1.0, "b": [0.123456, 2]}, {"a": torch.tensor(0.5), "c": torch.tensor([1.0, 2.0])}], digits=3)
    lines = shown[-1]["text/plain"].splitlines()
    assert lines[0] == "a\tb\tc"
    assert lines[1] == "1\t0.123, 2\t" and lines[2] == "0.5\t\t1, 2"
    assert shown[-1]["text/html"].count("<td></td>") == 2


def test_against_reads_a_claim_or_its_json_and_is_empty_for_older_records():
    import dataclasses

    from depthrep.book.report import against, verdict

    c = claim("deep above 2", True, **AGAINST, contrast="stem", contrast_test=False)
    words = "margin 1x over y of the same run; not at stem"
    assert against(c) == words == against(dataclasses.asdict(c))
    assert against({"statement": "recorded before baselines", "holds": True}) == ""
    assert verdict(c) == "holds" == verdict(dataclasses.asdict(c))
    assert verdict({"holds": True, "departs": True}) == "departs from the paper"
    blurred = {"holds": False, "contrast": "stem", "contrast_holds": True}
    assert verdict(blurred) == "fails (its test also holds at stem)"
