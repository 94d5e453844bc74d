"""The papermill runner on two tiny notebooks: one whose claim holds, one whose claim fails."""

import json

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
