"""The papermill runner on tiny notebooks: claims that hold or fail, a cell that raises or exits early."""

import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT

from depthrep.__main__ import main as depthrep
from depthrep.book import run as runner
from depthrep.core.store import STORE, Store
from depthrep.errors import DepthrepError
from depthrep.profiles import DEFAULT

CHAPTERS = ROOT / "notebooks"
"""The book's chapters, wherever the tests run from."""
START = "import depthrep\nrun = depthrep.book.start(profile)"


def check(holds: bool) -> str:
    return (
        f"depthrep.book.check(run, [depthrep.book.claim('it holds', {holds}, baseline='b', margin='1x', "
        "value=run.profile.size)])"
    )


def written(path, *sources):
    """A notebook at ``path``: a ``parameters`` cell, then one code cell per source."""
    nb = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell('profile = "laptop"')
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = [parameters, *map(nbformat.v4.new_code_cell, sources)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def notebook(path, holds: bool):
    return written(path, START, check(holds))


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
        {
            "statement": "it holds",
            "holds": True,
            "values": {"value": 64.0},
            "baseline": "b",
            "margin": "1x",
            "departs": False,
            "contrast": None,
            "contrast_holds": None,
            "verdict": "holds",
            "converged": None,
        }
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
    # Each kernel leaves a mark and waits (up to a minute) for the other's: only kernels that
    # run at the same time both see two marks.
    source = (
        "import glob, os, time\nimport depthrep\nrun = depthrep.book.start(profile)\n"
        "open(f'mark-{os.getpid()}', 'w').close()\ndeadline = time.time() + 60\n"
        "while len(glob.glob('mark-*')) < 2 and time.time() < deadline:\n    time.sleep(0.1)\n"
        "depthrep.book.check(run, [depthrep.book.claim('ran', True, baseline='b', margin='1x', "
        "threads=float(os.environ['OMP_NUM_THREADS']), "
        "marks=float(len(glob.glob('mark-*'))))])"
    )
    paths = [written(tmp_path / "a.ipynb", source), written(tmp_path / "b.ipynb", source)]
    monkeypatch.chdir(tmp_path)
    outcomes = runner.run_all("ci", Path("out"), paths, jobs=2)  # a relative folder, as make passes
    written_out = sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith("."))  # .lock
    assert written_out == ["a.ipynb", "b.ipynb", "summary.json"]
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
    expected = runner._expected(runner.notebooks(CHAPTERS))
    names = {nb.name for nb in runner.notebooks(CHAPTERS)}
    assert {"ci", DEFAULT} <= set(expected), "make test and make book order a fresh clone"
    for profile, seconds in expected.items():
        assert set(seconds) == names, f"notebooks/seconds.json: copy a {profile} run's notebook-seconds.json"
    order = runner.longest_first(runner.notebooks(CHAPTERS), expected["ci"])
    assert [expected["ci"][nb.name] for nb in order] == sorted(expected["ci"].values(), reverse=True)


def test_committed_times_are_read_beside_the_notebooks_that_run(tmp_path):
    here, there = tmp_path / "here", tmp_path / "there"
    for folder, seconds in ((here, {"a.ipynb": 5}), (there, {"b.ipynb": 7.5})):
        folder.mkdir()
        (folder / runner.EXPECTED).write_text(json.dumps({"ci": seconds}))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / runner.EXPECTED).write_text("[1, 2")  # a hint only: ignored
    todo = [here / "a.ipynb", there / "b.ipynb", tmp_path / "broken" / "c.ipynb", tmp_path / "d.ipynb"]
    assert runner._expected(todo) == {"ci": {"a.ipynb": 5.0, "b.ipynb": 7.5}}
    assert runner._expected([]) == {}


def test_the_chapters_are_the_notebooks_folder_of_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DepthrepError, match=r"^no notebooks/ folder in .*: run from the repository root"):
        runner.chapters()
    with pytest.raises(DepthrepError, match="or name the notebooks to run"):
        runner.notebooks()
    (tmp_path / "notebooks").mkdir()
    tiny = notebook(tmp_path / "notebooks" / "01_tiny.ipynb", True)
    assert (
        runner.chapters().resolve()
        == runner.chapters(tmp_path).resolve()
        == (tmp_path / "notebooks").resolve()
    )
    assert [path.resolve() for path in runner.notebooks()] == [tiny.resolve()]
    # what a run with no notebook named executes (the step before any kernel starts)
    todo, current = runner._plan("ci", tmp_path / "out", None, None)
    assert (todo, current) == ([tiny.resolve()], [])


def test_with_no_notebooks_folder_here_the_book_says_where_to_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(runner, "run_all", lambda *args: pytest.fail("a notebook ran"))
    assert depthrep(["book", "--profile", "ci", "--no-store"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == (
        f"depthrep book: error: no notebooks/ folder in {Path.cwd()}: run from the repository root (where "
        "`make book` runs), or name the notebooks to run, e.g. `depthrep book path/to/notebooks/*.ipynb`\n"
    )
    assert not (tmp_path / "build").exists()


def test_notebooks_named_run_from_any_working_directory(tmp_path, monkeypatch, capsys):
    tiny = notebook(tmp_path / "elsewhere.ipynb", True)
    monkeypatch.chdir(tmp_path.parent)  # no notebooks/ there
    ran = []
    monkeypatch.setattr(runner, "run_all", lambda *args: ran.append(args) or [])
    named = Path(tmp_path.name, tiny.name)  # relative to the working directory
    out = tmp_path / "out"
    assert depthrep(["book", "--profile", "ci", "--out", str(out), "--no-store", str(named)]) == 0
    assert ran == [("ci", out, [tiny.resolve()], 1, None)]


def test_wall_times_are_remembered_per_profile_for_the_next_run(tmp_path, cache):
    a, b = notebook(tmp_path / "a.ipynb", True), notebook(tmp_path / "b.ipynb", True)
    runner.run_all("ci", tmp_path / "out", [a, b])
    runner.run_all("laptop", tmp_path / "out", [a])
    durations = runner._durations()
    assert set(durations) == {"ci", "laptop"} and set(durations["ci"]) == {"a.ipynb", "b.ipynb"}
    assert all(seconds > 0 for seconds in durations["ci"].values())
    (cache / runner.DURATIONS).write_text("{not json")
    assert runner._durations() == {}  # unreadable: no ordering, no error


def test_with_jobs_the_longest_notebook_of_the_last_run_starts_first(tmp_path, monkeypatch, cache):
    a, b, c = (notebook(tmp_path / f"{x}.ipynb", True) for x in "abc")
    started = []

    def executed(todo, out, profile, jobs, trainings=()):
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
    from depthrep.profiles import get_profile
    from depthrep.studies import train

    profile = get_profile(
        "ci",
        world_size=16,
        world_steps=1,
        world_seeds=(0,),
        judge_steps=1,
    )
    configs = train.profile_trainings(profile)
    worlds = [(w, 1) for w in ("photos", "gratings", "leaves", "noise")]
    assert [(c.data, c.steps) for c in configs] == [*worlds, (train.JUDGE_DATA, 1)]
    assert not any(train.is_trained(c) for c in configs)
    runner.train_first(profile, jobs=2)
    assert all(train.is_trained(c) for c in configs)
    printed = capsys.readouterr().out
    assert "Training 5 local model(s) first, 2 at a time" in printed and printed.count("trained here on") == 5
    runner.train_first(profile, jobs=2)
    assert capsys.readouterr().out == ""  # all cached: nothing to do, nothing said


def test_the_largest_trainings_start_first(monkeypatch, capsys):
    from depthrep.profiles import get_profile
    from depthrep.studies import train

    monkeypatch.setattr(train, "is_trained", lambda config: False)
    started = runner.missing_trainings("ci")
    configs = train.profile_trainings(get_profile("ci"))
    assert sorted(started, key=configs.index) == configs  # every one, once
    sizes = [c.pixels_seen for c in started]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > sizes[-1]
    assert started[0].data == train.JUDGE_DATA  # ci's judge sees the most pixels, and ran alone at the end
    assert train.TrainConfig(steps=2, batch=3, size=5).pixels_seen == 2 * 3 * 25
    capsys.readouterr()


def _notebook(path, code):
    cells = [{"cell_type": "markdown", "source": ["world_models( in prose only"]},
             {"cell_type": "code", "source": code.splitlines(keepends=True)}]  # fmt: skip
    path.write_text(json.dumps({"cells": cells}))
    return path


def test_a_notebook_uses_local_models_where_its_code_calls_for_them(tmp_path):
    assert runner.uses_local_models(_notebook(tmp_path / "a.ipynb", "w = depthrep.studies.world_models(p)\n"))
    assert runner.uses_local_models(
        _notebook(tmp_path / "b.ipynb", "x = 1\nt = depthrep.studies.trained_models(p)")
    )
    assert not runner.uses_local_models(_notebook(tmp_path / "c.ipynb", "depthrep.invert(m, x, 'conv1')"))
    assert not runner.uses_local_models(tmp_path / "missing.ipynb")  # its own run says why
    in_the_book = [nb.name for nb in runner.notebooks(CHAPTERS) if runner.uses_local_models(nb)]
    assert in_the_book == ["07_pooling.ipynb", "09_training_data.ipynb"]


def test_notebooks_that_use_no_local_model_take_the_worker_a_training_frees(tmp_path, capsys):
    from depthrep.studies.train import TrainConfig

    needs = _notebook(tmp_path / "needs.ipynb", "depthrep.studies.world_models(p)")
    free = _notebook(tmp_path / "free.ipynb", "depthrep.invert(m, x, 'conv1')")
    trainings = [
        TrainConfig(data="noise", size=16, steps=steps, seed=seed) for seed, steps in [(0, 80), (1, 1)]
    ]
    for outcome in runner._scheduled(trainings, [needs, free], 2, run=str):  # str: a notebook's "run"
        print(f"done {Path(outcome).name}")
    printed = capsys.readouterr().out
    assert printed.count("trained here on") == 2
    # the short training frees a worker: the free notebook runs there while the long one trains
    assert printed.index("done free.ipynb") < printed.index("Trained in") < printed.index("done needs.ipynb")


def test_imagenet_profiles_train_only_the_worlds_and_the_judge():
    from depthrep.profiles import get_profile
    from depthrep.studies import train

    configs = train.profile_trainings(get_profile("paper"))
    assert configs == [
        *train.world_trainings(get_profile("paper")),
        train.judge_training(get_profile("paper")),
    ]


def test_a_notebook_that_exits_before_its_claims_fails(tmp_path):
    # papermill takes SystemExit(0) for a clean end: the runner said "ok, 0/0 claims hold"
    nb = written(tmp_path / "a.ipynb", START, "import sys\nraise SystemExit(0)", check(True))
    (tmp_path / "out").mkdir()
    outcome = runner.execute(nb, tmp_path / "out", "ci")
    assert outcome.status == "failed" and outcome.claims == []
    assert outcome.error == (
        "stopped early: cell 2 (In [4]) `import sys ...` raised SystemExit: 0, so cell 3 "
        "`depthrep.book.check(run, "
        "[depthrep.book.claim('it holds', Tr ...` and those after it never ran: remove the exit; "
        "a chapter must run to its claim check"
    )


def test_a_notebook_that_reports_no_claim_fails_and_one_that_exits_after_them_passes(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    silent = runner.execute(written(tmp_path / "silent.ipynb", START, "x = 1"), out, "ci")
    assert (silent.status, silent.error) == ("failed", runner.NO_CLAIMS)
    done = written(tmp_path / "done.ipynb", START, check(True), "", "import sys\nsys.exit()")
    assert runner.execute(done, out, "ci").status == "ok"  # every claim checked, then the end


def test_every_chapter_ends_with_its_claim_check():
    """The runner fails a notebook that reports no claim (``depthrep.book.check``)."""
    for path in runner.notebooks(CHAPTERS):
        code = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
        assert "depthrep.book.check(run," in code[-1], f"{path.name}: its last code cell checks no claim"


def test_a_failing_cell_is_named_by_number_first_line_and_exception(tmp_path, capsys):
    nb = written(tmp_path / "a.ipynb", START, "x = 1", "# the third step\nraise ValueError('bad\\nboom')")
    [outcome] = runner.run_all("ci", tmp_path / "out", [nb])
    expected = "cell 3 (In [5]) `# the third step ...` raised ValueError: boom"
    assert outcome.error == expected
    assert f" s, 0 claims: none; inversions: 0 computed, 0 read\n    {expected}\n" in capsys.readouterr().out
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["notebooks"][0]["error"] == expected


def test_cell_numbers_are_those_of_the_notebook_given_not_of_its_executed_copy():
    # papermill's own numbering counts the parameters cell it injects
    tagged = [nbformat.v4.new_code_cell(tags) for tags in ("a", "p", "b")]
    assert [runner._source_index(tagged, i) for i in (1, 2, 3)] == [0, 1, 2]  # no parameters: first
    tagged[1].metadata["tags"] = ["parameters"]  # injected after it, at 2
    assert [runner._source_index(tagged, i) for i in (0, 1, 3)] == [0, 1, 2]
    tagged[1].metadata["tags"] = ["injected-parameters"]  # replaced in place
    assert [runner._source_index(tagged, i) for i in (0, 1, 2)] == [0, 1, 2]


@pytest.mark.parametrize("where", ["file/cache", "cache"])
def test_a_cache_that_cannot_be_written_loses_the_wall_times_not_the_run(
    tmp_path, monkeypatch, capsys, where
):
    # read-only, also for root: the cache folder under a file, or the times' file a folder
    (tmp_path / "file").write_text("")
    (tmp_path / "cache" / runner.DURATIONS).mkdir(parents=True)
    monkeypatch.setenv("DEPTHREP_CACHE", str(tmp_path / where))
    a, b = notebook(tmp_path / "a.ipynb", True), notebook(tmp_path / "b.ipynb", True)

    def executed(todo, out, profile, jobs, trainings=()):
        return (runner.Outcome(nb.name, "ok", 1.0, profile) for nb in todo)

    monkeypatch.setattr(runner, "_executed", executed)
    outcomes = runner.run_all("ci", tmp_path / "out", [a, b], jobs=2)
    assert [o.notebook for o in outcomes] == ["a.ipynb", "b.ipynb"]
    printed = capsys.readouterr().out
    assert printed.count("warning: wall times not remembered: ") == 1, printed
    assert str(tmp_path / where) in printed


def test_without_a_cache_folder_nothing_is_trained_first(tmp_path, monkeypatch, capsys):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("DEPTHREP_CACHE", str(tmp_path / "file" / "cache"))
    runner.train_first("ci", jobs=2)  # the notebooks that need a model say why there is none
    assert capsys.readouterr().out.startswith(
        f"Not training first: Cannot create the cache folder {tmp_path}"
    )


@pytest.mark.skipif(runner.os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_cache_folder_loses_the_wall_times_only(tmp_path, monkeypatch):
    monkeypatch.setenv("DEPTHREP_CACHE", str(tmp_path))
    tmp_path.chmod(0o555)
    try:
        assert runner._remember_duration("ci", runner.Outcome("a.ipynb", "ok", 1.0, "ci")) is False
    finally:
        tmp_path.chmod(0o755)


@pytest.mark.parametrize(
    "out, said",
    [
        ("file", "{tmp}/file is a file, not a folder"),
        ("file/out", "{tmp}/file is a file, not a folder"),
        ("read-only", "cannot write into {tmp} (Permission denied)"),
    ],
)
def test_an_unusable_out_folder_is_refused_before_any_notebook_runs(tmp_path, monkeypatch, capsys, out, said):
    (tmp_path / "file").write_text("")
    good = notebook(tmp_path / "good.ipynb", True)
    if out == "read-only":  # root writes anywhere: the probe file is refused as it would be

        def refused(self, data):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(Path, "write_bytes", refused)
    monkeypatch.setattr(runner, "run_all", lambda *args: pytest.fail("a notebook ran"))
    with pytest.raises(SystemExit) as exit_info:
        runner.main(["--profile", "ci", "--out", str(tmp_path / out), str(good)])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error == (
        f"depthrep book: error: --out {tmp_path / out}: {said.format(tmp=tmp_path)}; "
        "pass a folder the executed notebooks can be written to"
    )


def test_a_notebook_that_cannot_be_read_fails_alone_and_the_others_run(tmp_path):
    broken = tmp_path / "a_broken.ipynb"
    broken.write_text('{"cells": [')
    good = notebook(tmp_path / "b_good.ipynb", True)
    outcomes = runner.run_all("ci", tmp_path / "out", [broken, good])
    assert [(o.notebook, o.status) for o in outcomes] == [
        ("a_broken.ipynb", "failed"),
        ("b_good.ipynb", "ok"),
    ]
    assert outcomes[0].error.startswith("cannot read the notebook: ")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [e["status"] for e in summary["notebooks"]] == ["failed", "ok"]


def test_the_summary_records_the_profile_that_ran_and_a_notebook_that_ignores_it_fails(tmp_path):
    nb = nbformat.v4.new_notebook()  # its profile set in an untagged cell: papermill's goes first
    nb.cells = [nbformat.v4.new_code_cell(s) for s in ('profile = "laptop"', START, check(True))]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "untagged.ipynb")
    [outcome] = runner.run_all("ci", tmp_path / "out", [tmp_path / "untagged.ipynb"])
    assert (outcome.status, outcome.profile) == ("failed", "laptop")
    assert outcome.error.startswith("ran at profile 'laptop', not 'ci': ")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["notebooks"][0]["profile"] == "laptop"


@pytest.mark.parametrize("jobs", [1, 2])
def test_ctrl_c_stops_the_runner_in_one_line_and_leaves_nothing_half_written(tmp_path, jobs):
    import os
    import signal
    import subprocess
    import sys
    import time

    started = tmp_path / "started"
    started.mkdir()
    sleeping = (
        f"import pathlib, time\npathlib.Path({str(started)!r}, __import__('os').urandom(4).hex()).touch()\n"
    )
    slow = [written(tmp_path / f"{n}.ipynb", START, sleeping + "time.sleep(120)", check(True)) for n in "ab"]
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "depthrep",
        "book",
        "--profile",
        "ci",
        "--jobs",
        str(jobs),
        "--out",
        str(out),
    ]
    runner_process = subprocess.Popen(
        [*command, *map(str, slow)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,  # its own process group, as a terminal gives it: Ctrl-C reaches every member
        # and Ctrl-C's default action, as a terminal gives it: pytest-xdist's workers ignore SIGINT,
        # which their children would inherit (a Python started so never raises KeyboardInterrupt)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while len(list(started.iterdir())) < jobs and time.monotonic() < deadline:
        time.sleep(0.5)  # until every kernel is inside its long cell, however slow the machine
    time.sleep(1)
    os.killpg(runner_process.pid, signal.SIGINT)
    stdout, stderr = runner_process.communicate(timeout=90)
    assert runner_process.returncode == 130, stderr
    said = (
        stderr + stdout
    )  # a kernel stopped mid-cell may log its own error (ipykernel's, to the same stderr)
    for noise in ("KeyboardInterrupt", "depthrep/book/run.py", "concurrent/futures", "never retrieved"):
        assert noise not in said, said
    assert [line for line in stderr.splitlines() if line.startswith("interrupted: ")], stderr
    assert not list(out.glob("*.ipynb")) and not list(out.glob(".*.ipynb"))


def test_an_out_folder_that_holds_the_notebooks_is_refused(tmp_path, capsys):
    good = notebook(tmp_path / "good.ipynb", True)
    with pytest.raises(SystemExit) as exit_info:
        runner.main(["--profile", "ci", "--out", str(tmp_path), str(good)])
    assert exit_info.value.code == 2 and "would overwrite them" in capsys.readouterr().err
    assert nbformat.read(good, as_version=4).cells[0].source == 'profile = "laptop"'  # untouched


def test_a_relative_cache_folder_is_the_same_folder_in_the_runner_and_its_kernels(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DEPTHREP_CACHE", "relative-cache")
    folder = tmp_path / "notebooks"
    folder.mkdir()
    seen = tmp_path / "seen.txt"
    nb = written(folder / "a.ipynb", START, f"from depthrep.zoo.checkpoints import cache_dir\n"
                 f"open({str(seen)!r}, 'w').write(str(cache_dir()))", check(True))  # fmt: skip
    [outcome] = runner.run_all("ci", tmp_path / "out", [nb])
    assert outcome.status == "ok" and seen.read_text() == str(tmp_path / "relative-cache")


def test_two_runners_into_one_folder_keep_each_others_entries(tmp_path, monkeypatch):
    out = tmp_path / "out"
    a, b = notebook(tmp_path / "a.ipynb", True), notebook(tmp_path / "b.ipynb", True)
    runner.run_all("ci", out, [b])  # the other runner's notebook, finished first
    [b_entry] = json.loads((out / "summary.json").read_text())["notebooks"]
    b_entry["seconds"] = 12345.0  # what the other runner records while this one runs
    execute = runner.execute

    def meanwhile(notebook, out, profile, kernel="python3"):
        summary = json.loads((out / "summary.json").read_text())
        summary["notebooks"] = [b_entry]
        (out / "summary.json").write_text(json.dumps(summary))
        return execute(notebook, out, profile, kernel)

    monkeypatch.setattr(runner, "execute", meanwhile)
    runner.run_all("ci", out, [a])
    listed = {e["notebook"]: e for e in json.loads((out / "summary.json").read_text())["notebooks"]}
    assert set(listed) == {"a.ipynb", "b.ipynb"} and listed["b.ipynb"]["seconds"] == 12345.0


INVERT = (
    'depthrep.invert(depthrep.load_model("resnet18"), depthrep.load_image("grace_hopper", 32), "conv2", 3)'
)


def test_a_run_again_reads_its_inversions_and_keeps_the_chapters_that_did_not_change(tmp_path, monkeypatch):
    folder, out, kept = tmp_path / "notebooks", tmp_path / "executed", Store(tmp_path / "store")
    folder.mkdir()
    good = written(folder / "a_good.ipynb", START, INVERT, check(True))
    bad = written(folder / "b_bad.ipynb", START, INVERT, check(False))
    first = runner.run_all("ci", out, [good, bad], store=kept)
    assert [(o.computed, o.read) for o in first] == [(1, 0), (0, 1)]  # b's inversion is a's
    executed, failed = ((out / nb.name).stat().st_mtime_ns for nb in (good, bad))
    again = runner.run_all("ci", out, [good, bad], store=kept)
    assert again[0] == replace(first[0], up_to_date=True)  # up to date: not run
    assert (out / good.name).stat().st_mtime_ns == executed
    assert not again[1].up_to_date and (out / bad.name).stat().st_mtime_ns != failed  # failed: ran again
    assert (again[1].computed, again[1].read) == (0, 1)

    edited = nbformat.read(good, as_version=4)
    edited.cells.append(nbformat.v4.new_markdown_cell("A sentence more."))
    nbformat.write(edited, good)
    (read,) = runner.run_all("ci", out, [good], store=kept)
    assert read.status == "ok" and (read.computed, read.read) == (0, 1)
    (fresh,) = runner.run_all("ci", out, [good], store=Store(kept.folder, read=False))
    assert (fresh.computed, fresh.read) == (1, 0)

    elsewhere = tmp_path / "named by the environment"
    monkeypatch.setenv(STORE, str(elsewhere))
    (unkept,) = runner.run_all("ci", out, [good])  # no store: none, whatever the environment names
    assert (unkept.computed, unkept.read) == (1, 0) and not elsewhere.exists()
    assert json.loads((out / "summary.json").read_text())["notebooks"][0]["computed"] == 1


def test_fresh_needs_a_store(capsys):
    with pytest.raises(SystemExit):
        runner.main(["--no-store", "--fresh"])
    assert "--fresh replaces what the store holds" in capsys.readouterr().err


def test_chapters_computed_by_local_tasks_are_built_elsewhere_from_the_store(tmp_path, capsys):
    pytest.importorskip("submitit")
    folder, shared = tmp_path / "notebooks", Store(tmp_path / "shared store")
    folder.mkdir()
    chapters = [written(folder / f"{name}.ipynb", START, INVERT.replace("3)", f"{steps})"), check(True))
                for name, steps in (("a", 3), ("b", 4), ("c", 5))]  # fmt: skip
    out = tmp_path / "on the cluster"
    tasks, current = runner.submit("ci", out, chapters, shared, executor="local", tasks=2, timeout_min=10)
    assert current == [] and len({task.job_id for task in tasks}) == 2
    done = [outcome for task in tasks for outcome in task.result()]
    assert sorted(o.notebook for o in done) == ["a.ipynb", "b.ipynb", "c.ipynb"]
    assert all(o.status == "ok" and (o.computed, o.read) == (1, 0) for o in done), done
    recorded = json.loads((out / "summary.json").read_text())["notebooks"]  # by the tasks, as they ended
    assert [e["notebook"] for e in recorded] == ["a.ipynb", "b.ipynb", "c.ipynb"]
    assert list((out / "submitit").glob("*_log.out"))

    elsewhere = runner.run_all("ci", tmp_path / "a laptop", chapters, store=shared)  # only the store copied
    assert [(o.status, o.computed, o.read) for o in elsewhere] == [("ok", 0, 1)] * 3
    assert runner.main(["--profile", "ci", "--out", str(out), "--store", str(shared.folder),
                        *map(str, chapters)]) == 0  # fmt: skip
    said = capsys.readouterr().out  # up to date where the tasks wrote them: nothing done this run
    assert "3/3 notebooks passed (3 up to date)" in said and "inversions: 0 computed, 0 read" in said


def test_book_tasks_on_slurm_are_one_array_with_a_task_per_chapter(tmp_path, monkeypatch, capsys):
    pytest.importorskip("submitit")
    folder = tmp_path / "notebooks"
    folder.mkdir()
    chapters = [notebook(folder / f"{name}.ipynb", True) for name in "abc"]
    book = tmp_path / "book"
    arguments = ["--profile", "ci", "--out", str(book), "--executor", "slurm", *map(str, chapters)]
    path = os.environ["PATH"]
    monkeypatch.setenv("PATH", "/nonexistent")
    assert runner.main(arguments) == 2
    assert "no sbatch and srun here" in capsys.readouterr().err
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (bin_ / "sbatch").write_text(f'#!/bin/sh\ncp "$1" {bin_}/submitted.sh\necho "Submitted batch job 77"\n')
    (bin_ / "srun").write_text("#!/bin/sh\n")
    for tool in ("sbatch", "srun"):
        (bin_ / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_}{os.pathsep}{path}")
    assert runner.main([*arguments, "--partition", "gpu", "--slurm", "account=abc"]) == 0
    said = capsys.readouterr().out
    assert "77_0, 77_1, 77_2" in said and "finds them up to date" in said
    script = (bin_ / "submitted.sh").read_text().splitlines()
    settings = ("--array=0-2%3", "--gpus-per-task=1", "--partition=gpu", "--account=abc")
    for line in (*settings, "--job-name=depthrep-book"):
        assert f"#SBATCH {line}" in script


@pytest.mark.parametrize(
    "arguments, said",
    [
        (["--partition", "gpu"], "--partition set(s) how submitit runs the notebooks: add --executor slurm"),
        (["--executor", "local", "--slurm", "account"], "--slurm takes KEY=VALUE settings"),
    ],
)
def test_submitit_settings_out_of_place_are_refused_in_one_line(tmp_path, capsys, arguments, said):
    pytest.importorskip("submitit")
    chapter = notebook(tmp_path / "a.ipynb", True)
    try:
        status = runner.main(["--out", str(tmp_path / "out"), *arguments, str(chapter)])
    except SystemExit as exit_:
        status = exit_.code
    assert status == 2
    assert said in capsys.readouterr().err


def test_without_submitit_the_executor_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "submitit", None)
    chapter = notebook(tmp_path / "a.ipynb", True)
    assert runner.main(["--out", str(tmp_path / "out"), "--executor", "local", str(chapter)]) == 2
    error = capsys.readouterr().err
    assert len(error.splitlines()) == 1 and "pip install depthrep[cluster]" in error
    assert not (tmp_path / "out" / "summary.json").exists()  # refused before anything ran


def test_the_store_named_by_the_environment_is_the_runners_default(tmp_path, monkeypatch, capsys):
    chapter = written(tmp_path / "a.ipynb", START, INVERT, check(True))
    monkeypatch.setenv(STORE, str(tmp_path / "named"))
    assert runner.main(["--profile", "ci", "--out", str(tmp_path / "out"), str(chapter)]) == 0
    assert f"inversions kept in {tmp_path / 'named'}" in capsys.readouterr().out
    assert list((tmp_path / "named").rglob("*.pt"))
