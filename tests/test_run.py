"""The papermill runner on two tiny notebooks: one whose claim holds, one whose claim fails."""

import json
from pathlib import Path

import nbformat
import pytest

from depthrep import run as runner


def notebook(path, holds: bool):
    nb = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell('profile = "laptop"')
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = [
        parameters,
        nbformat.v4.new_code_cell("import depthrep\nrun = depthrep.start(profile)"),
        nbformat.v4.new_code_cell(
            f"depthrep.check(run, [depthrep.claim('it holds', {holds}, value=run.profile.size)])"
        ),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.fixture(autouse=True, scope="module")
def _cache(tmp_path_factory):
    """The runner remembers wall times in the cache folder: a folder of the tests' own."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEPTHREP_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("notebooks")
    out = tmp_path_factory.mktemp("executed")
    good, bad = notebook(folder / "a_good.ipynb", True), notebook(folder / "b_bad.ipynb", False)
    return runner.run_all("ci", out, [good, bad]), out


def test_claims_are_read_back_with_profile_and_device(outcomes):
    (good, _), out = outcomes
    assert good.status == "ok" and good.profile == "ci"
    assert good.claims == [
        {"statement": "it holds", "holds": True, "values": {"value": 64.0}, "departs": False}
    ]
    assert "profile ci" in good.device
    assert (out / "a_good.ipynb").exists()  # executed into the output folder, never in place


def test_a_failed_claim_fails_the_notebook_and_keeps_its_output(outcomes):
    (_, bad), out = outcomes
    assert bad.status == "failed" and "ClaimFailed" in bad.error
    executed = nbformat.read(out / "b_bad.ipynb", as_version=4)
    assert any(o.get("output_type") == "error" for c in executed.cells for o in c.get("outputs", []))


def test_summary_json_lists_every_notebook(outcomes):
    _, out = outcomes
    summary = json.loads((out / "summary.json").read_text())
    assert summary["profile"] == "ci"
    assert [n["notebook"] for n in summary["notebooks"]] == ["a_good.ipynb", "b_bad.ipynb"]
    assert all(n["seconds"] > 0 for n in summary["notebooks"])


def test_running_one_notebook_again_updates_its_entry_only(tmp_path):
    a, b = notebook(tmp_path / "a.ipynb", True), notebook(tmp_path / "b.ipynb", True)
    out = tmp_path / "out"
    summary = out / "summary.json"

    def listed(profile="ci"):
        found = json.loads(summary.read_text())
        assert found["profile"] == profile
        return {n["notebook"]: n["status"] for n in found["notebooks"]}

    out.mkdir()
    summary.write_text(json.dumps({"profile": "ci", "notebooks": [
        {"notebook": "a.ipynb", "status": "failed", "seconds": 9.0},
        {"notebook": "c.ipynb", "status": "ok", "seconds": 1.0},
    ]}))  # fmt: skip
    runner.run_all("ci", out, [a])
    assert listed() == {"a.ipynb": "ok", "c.ipynb": "ok"}
    runner.run_all("ci", out, [b])  # a new entry goes in reading order
    assert list(listed()) == ["a.ipynb", "b.ipynb", "c.ipynb"]
    summary.write_text('["not", "a", "summary"]')
    runner.run_all("ci", out, [a])  # unreadable: a fresh summary
    assert listed() == {"a.ipynb": "ok"}
    runner.run_all("laptop", out, [b])  # another profile: a fresh summary
    assert listed("laptop") == {"b.ipynb": "ok"}


def test_main_exit_status_and_bad_arguments(tmp_path, capsys):
    good = notebook(tmp_path / "good.ipynb", True)
    assert runner.main(["--profile", "ci", "--out", str(tmp_path / "out"), str(good)]) == 0
    with pytest.raises(SystemExit) as exit_info:
        runner.main(["--profile", "ci", str(tmp_path / "missing.ipynb")])
    assert exit_info.value.code == 2
    assert "no such notebook" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        runner.main(["--profile", "ci", "--jobs", "0", str(good)])
    assert "--jobs must be at least 1" in capsys.readouterr().err


def test_an_interrupted_run_leaves_no_partial_notebook(tmp_path, monkeypatch):
    import papermill

    def interrupted(input_path, output_path, **kwargs):
        with open(output_path, "w") as half:
            half.write('{"cells": [')  # what papermill has saved when Ctrl-C comes
        raise KeyboardInterrupt

    monkeypatch.setattr(papermill, "execute_notebook", interrupted)
    good = notebook(tmp_path / "good.ipynb", True)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(KeyboardInterrupt):
        runner.execute(good, out, "ci")
    assert list(out.iterdir()) == []


def test_jobs_run_notebooks_at_once_each_with_its_share_of_threads(tmp_path, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(runner, "_usable_cpus", lambda: 4)
    nb = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell('profile = "laptop"')
    parameters.metadata["tags"] = ["parameters"]
    # Each kernel leaves a mark and waits (up to a minute) for the other's: only kernels that
    # run at the same time both see two marks.
    nb.cells = [parameters, nbformat.v4.new_code_cell(
        "import glob, os, time\nimport depthrep\nrun = depthrep.start(profile)\n"
        "open(f'mark-{os.getpid()}', 'w').close()\ndeadline = time.time() + 60\n"
        "while len(glob.glob('mark-*')) < 2 and time.time() < deadline:\n    time.sleep(0.1)\n"
        "depthrep.check(run, [depthrep.claim('ran', True, threads=float(os.environ['OMP_NUM_THREADS']), "
        "marks=float(len(glob.glob('mark-*'))))])"
    )]  # fmt: skip
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    paths = [tmp_path / "a.ipynb", tmp_path / "b.ipynb"]
    for path in paths:
        nbformat.write(nb, path)
    monkeypatch.chdir(tmp_path)
    outcomes = runner.run_all("ci", Path("out"), paths, jobs=2)  # a relative folder, as make passes
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.ipynb", "b.ipynb", "summary.json"]
    assert [o.notebook for o in outcomes] == ["a.ipynb", "b.ipynb"]  # reading order, however they finished
    values = [c["values"] for o in outcomes for c in o.claims]
    assert [v["threads"] for v in values] == [2.0, 2.0]  # 4 CPUs shared by 2 kernels
    assert [v["marks"] for v in values] == [2.0, 2.0]  # the two kernels ran at the same time
    assert "OMP_NUM_THREADS" not in runner.os.environ  # the runner's own environment is restored


def test_longest_first_keeps_reading_order_for_notebooks_never_run(tmp_path):
    a, b, c, d = (tmp_path / f"{x}.ipynb" for x in "abcd")
    assert runner.longest_first([a, b, c, d], {"b.ipynb": 5.0, "c.ipynb": 50.0}) == [c, b, a, d]
    assert runner.longest_first([a, b, c, d], {}) == [a, b, c, d]


def test_a_first_run_is_ordered_by_the_committed_times():
    expected = runner._expected()
    names = {nb.name for nb in runner.notebooks()}
    assert set(expected["ci"]) == names, "notebooks/seconds.json: copy a ci run's notebook-seconds.json"
    order = runner.longest_first(runner.notebooks(), expected["ci"])
    assert [expected["ci"][nb.name] for nb in order] == sorted(expected["ci"].values(), reverse=True)


def test_wall_times_are_remembered_per_profile_for_the_next_run(tmp_path, monkeypatch):
    monkeypatch.setenv("DEPTHREP_CACHE", str(tmp_path / "cache"))
    a, b = notebook(tmp_path / "a.ipynb", True), notebook(tmp_path / "b.ipynb", True)
    runner.run_all("ci", tmp_path / "out", [a, b])
    runner.run_all("laptop", tmp_path / "out", [a])
    durations = runner._durations()
    assert set(durations) == {"ci", "laptop"} and set(durations["ci"]) == {"a.ipynb", "b.ipynb"}
    assert all(seconds > 0 for seconds in durations["ci"].values())
    (tmp_path / "cache" / runner.DURATIONS).write_text("{not json")
    assert runner._durations() == {}  # unreadable: no ordering, no error


def test_with_jobs_the_longest_notebook_of_the_last_run_starts_first(tmp_path, monkeypatch):
    monkeypatch.setenv("DEPTHREP_CACHE", str(tmp_path / "cache"))
    a, b, c = (notebook(tmp_path / f"{x}.ipynb", True) for x in "abc")
    started = []

    def executed(todo, out, profile, jobs):
        started.extend(nb.stem for nb in todo)
        return [
            runner.Outcome(nb.name, "ok", {"a": 1.0, "b": 9.0, "c": 3.0}[nb.stem], profile) for nb in todo
        ]

    monkeypatch.setattr(runner, "_executed", executed)
    runner.run_all("ci", tmp_path / "out", [a, b, c], jobs=2)  # never run before: reading order
    runner.run_all("ci", tmp_path / "out", [a, b, c], jobs=2)
    runner.run_all("ci", tmp_path / "out", [a, b, c], jobs=1)  # one at a time: always reading order
    assert [started[:3], started[3:6], started[6:]] == [list("abc"), list("bca"), list("abc")]


def test_local_models_are_trained_first_side_by_side_and_once(capsys):
    from depthrep import get_profile, train

    profile = get_profile(
        "ci",
        train_size=16,
        train_steps=2,
        train_seeds=(0,),
        world_size=16,
        world_steps=1,
        world_seeds=(0,),
        judge_steps=1,
    )
    configs = train.profile_trainings(profile)
    worlds = [(w, 1) for w in ("photos", "gratings", "leaves", "noise")]
    assert [(c.data, c.steps) for c in configs] == [("photos", 2), *worlds, (train.JUDGE_DATA, 1)]
    assert not any(train.is_trained(c) for c in configs)
    runner.train_first(profile, jobs=2)
    assert all(train.is_trained(c) for c in configs)
    printed = capsys.readouterr().out
    assert "Training 6 local model(s) first, 2 at a time" in printed and printed.count("trained here on") == 6
    runner.train_first(profile, jobs=2)
    assert capsys.readouterr().out == ""  # all cached: nothing to do, nothing said


def test_imagenet_profiles_train_only_the_worlds_and_the_judge():
    from depthrep import get_profile, train

    configs = train.profile_trainings(get_profile("paper"))
    assert configs == [
        *train.world_trainings(get_profile("paper")),
        train.judge_training(get_profile("paper")),
    ]
