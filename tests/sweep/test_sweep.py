"""Sweeps: shards that resume, failures that do not stop the others, submitit's local executor
against one process (bit for bit), and the Slurm array that `submit` asks for."""

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import ROOT

from depthrep.core.jobs import failure_path, load_result, plan, read_plan, result_path, write_plan
from depthrep.errors import SweepError
from depthrep.sweep import cli as sweep
from depthrep.sweep.cli import main, parse_shard, run_shard, shard, shard_from_env, submit
from depthrep.sweep.merge import merge


def tiny_plan(directory: Path) -> list:
    """2 models x 2 images x 2 seeds: 8 jobs of two layers at 32 px, 3 steps."""
    jobs = plan(["resnet18", "resnet34"], ["grace_hopper", "chelsea"], [0, 1], [3], size=32,
                layers=["conv1", "conv2"])  # fmt: skip
    write_plan(directory, jobs)
    return jobs


@pytest.fixture(scope="module")
def reference(tmp_path_factory, device):
    """Every job of the tiny plan, run by this one process, and merged."""
    directory = tmp_path_factory.mktemp("one-process")
    tiny_plan(directory)
    assert len(run_shard(directory, device=str(device)).done) == 8
    assert merge(directory).complete
    return directory


def same_results(directory: Path, reference: Path, jobs, device: torch.device) -> None:
    """Bit for bit on the CPU at a fixed thread count; close on CUDA, whose max-pool backward adds
    in any order."""
    exact = device.type == "cpu"
    for job in jobs:
        ours, theirs = load_result(result_path(directory, job)), load_result(result_path(reference, job))
        assert ours.threads == theirs.threads == 1
        for layer, result in theirs.results.items():
            for got, expected in (
                (ours.results[layer].image, result.image),
                (ours.results[layer].history.input_distance, result.history.input_distance),
            ):
                torch.testing.assert_close(
                    got, expected, rtol=0 if exact else 1e-4, atol=0 if exact else 1e-5
                )


def test_local_executor_with_two_workers_merges_to_the_one_process_table(reference, tmp_path, device):
    jobs = tiny_plan(tmp_path)
    submitted = submit(tmp_path, executor="local", array_parallelism=2, device=str(device), timeout_min=10)
    reports = [job.result() for job in submitted]
    assert len({job.job_id for job in submitted}) == 2  # two processes
    assert [(r.index, r.count) for r in reports] == [(0, 2), (1, 2)]
    assert sorted(i for r in reports for i in r.done) == sorted(job.id for job in jobs)
    assert merge(tmp_path).complete
    rows = json.loads((tmp_path / "merged.json").read_text())["rows"]
    assert len(rows) == 16
    if device.type == "cpu":
        assert (tmp_path / "merged.csv").read_bytes() == (reference / "merged.csv").read_bytes()
        assert rows == json.loads((reference / "merged.json").read_text())["rows"]
    same_results(tmp_path, reference, jobs, device)
    assert list((tmp_path / "submitit").glob("*_log.out"))  # each worker's log, where the README says


def test_a_killed_shard_leaves_no_partial_result_and_a_rerun_finishes_it(reference, tmp_path, device, capsys):
    first, second = shard(tiny_plan(tmp_path), 0, 4)
    command = [sys.executable, "-m", "depthrep.sweep.cli", "run", str(tmp_path), "--shard", "0/4", "--device",
               str(device)]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    for line in process.stdout:
        if "job 2/2" in line:  # the second job has started: kill -9 it there
            process.kill()
            break
    process.wait()
    process.stdout.close()
    assert load_result(result_path(tmp_path, first)).job == first
    assert not result_path(tmp_path, second).exists()
    assert [p.name for p in (tmp_path / "results").iterdir() if not p.name.startswith(".")] == [
        result_path(tmp_path, first).name
    ]
    assert merge(tmp_path).missing == tuple(j.id for j in read_plan(tmp_path) if j != first)
    assert main(["run", str(tmp_path), "--shard", "0/4", "--device", str(device)]) == 0
    assert "shard 0/4: 1 done, 1 finished before" in capsys.readouterr().out
    same_results(tmp_path, reference, [first, second], device)


def test_a_failing_job_is_recorded_the_others_go_on_and_a_rerun_retries_it(tmp_path, device, monkeypatch):
    bad, good = shard(tiny_plan(tmp_path), 1, 4)
    real = sweep.run_job

    def flaky(job, device=None):
        if job == bad:
            raise RuntimeError("out of luck")
        return real(job, device)

    monkeypatch.setattr(sweep, "run_job", flaky)
    assert main(["run", str(tmp_path), "--shard", "1/4", "--device", str(device)]) == 3
    record = json.loads(failure_path(tmp_path, bad).read_text())
    assert record["error"] == "RuntimeError: out of luck" and "Traceback" in record["traceback"]
    assert result_path(tmp_path, good).exists() and not result_path(tmp_path, bad).exists()
    assert merge(tmp_path).failed == {bad.id: "RuntimeError: out of luck"}
    monkeypatch.setattr(sweep, "run_job", real)
    report = run_shard(tmp_path, 1, 4, device=str(device))
    assert report.done == (bad.id,) and report.skipped == (good.id,)
    assert not failure_path(tmp_path, bad).exists()


def test_a_corrupt_result_is_run_again(reference, tmp_path, device):
    jobs = tiny_plan(tmp_path)
    first, second = shard(jobs, 2, 4)
    for job in (first, second):
        result_path(tmp_path, job).parent.mkdir(exist_ok=True)
        result_path(tmp_path, job).write_bytes(result_path(reference, job).read_bytes())
    damaged = bytearray(result_path(tmp_path, second).read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    result_path(tmp_path, second).write_bytes(bytes(damaged))
    assert set(merge(tmp_path).corrupt) == {second.id}
    report = run_shard(tmp_path, 2, 4, device=str(device))
    assert report.skipped == (first.id,) and report.done == (second.id,)
    same_results(tmp_path, reference, [second], device)


def test_shards_split_the_jobs_once_each_and_follow_slurm_arrays():
    jobs = list(range(10))
    parts = [shard(jobs, i, 3) for i in range(3)]
    assert sorted(itertools.chain(*parts)) == jobs and parts[1] == [1, 4, 7]
    assert shard_from_env({}) is None
    assert shard_from_env({"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_COUNT": "8"}) == (5, 8)
    one_based = {"SLURM_ARRAY_TASK_ID": "6", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "100"}
    assert shard_from_env(one_based) == (5, 100)
    assert parse_shard("3/16") == (3, 16)
    for wrong in ("4/4", "x", "1/0", "-1/3"):
        with pytest.raises(SweepError, match="I/N"):
            parse_shard(wrong)


def test_run_reads_its_shard_from_a_slurm_array(reference, tmp_path, monkeypatch, capsys):
    tiny_plan(tmp_path)
    (tmp_path / "results").mkdir()
    for job in read_plan(reference):
        result_path(tmp_path, job).write_bytes(result_path(reference, job).read_bytes())
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "4")
    assert main(["run", str(tmp_path)]) == 0
    assert "shard 3/4: 0 done, 2 finished before" in capsys.readouterr().out


def test_submit_without_submitit_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "submitit", None)
    assert main(["submit", str(tmp_path), "--executor", "local"]) == 2
    error = capsys.readouterr().err
    assert len(error.splitlines()) == 1 and "pip install depthrep[cluster]" in error


def test_slurm_submission_is_one_array_with_the_asked_parallelism(tmp_path, monkeypatch, capsys):
    tiny_plan(tmp_path)
    path = os.environ["PATH"]
    monkeypatch.setenv("PATH", "/nonexistent")
    assert main(["submit", str(tmp_path)]) == 2
    assert "no sbatch and srun here" in capsys.readouterr().err
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (bin_ / "sbatch").write_text(f'#!/bin/sh\ncp "$1" {bin_}/submitted.sh\necho "Submitted batch job 4242"\n')
    (bin_ / "srun").write_text("#!/bin/sh\n")  # submitit looks for it to know it is on a cluster
    for tool in ("sbatch", "srun"):
        (bin_ / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_}{os.pathsep}{path}")
    assert main(["submit", str(tmp_path), "--array-parallelism", "3", "--partition", "gpu", "--timeout-min",
                 "90", "--slurm", "account=abc"]) == 0  # fmt: skip
    assert "4242_0, 4242_1" in capsys.readouterr().out
    script = (bin_ / "submitted.sh").read_text().splitlines()
    for line in ("--array=0-7%3", "--gpus-per-task=1", "--partition=gpu", "--account=abc", "--time=90"):
        assert f"#SBATCH {line}" in script


@pytest.mark.parametrize(
    "arguments, said",
    [
        (["plan", "--size", "0"], "size=0"),
        (["plan", "--weights", "imagenett"], "'imagenett': neither random, imagenet, local, a weights name"),
        (["plan", "--models", "fc100x2", "--weights", "imagenet"], "fc100x2 with weights 'imagenet'"),
        (["run", "--threads", "0"], "--threads 0: pass 1 or more"),
        (["submit", "--executor", "local", "--shards", "0"], "--shards 0: pass 1 or more"),
        (
            ["submit", "--executor", "local", "--array-parallelism", "0"],
            "--array-parallelism 0: pass 1 or more",
        ),
    ],
)
def test_counts_and_names_out_of_range_are_one_line_and_status_2(tmp_path, capsys, arguments, said):
    tiny_plan(tmp_path / "planned")
    command, *rest = arguments
    where = (
        ["--out", str(tmp_path / "new"), "--profile", "ci"]
        if command == "plan"
        else [str(tmp_path / "planned")]
    )
    assert main([command, *where, *rest]) == 2
    error = capsys.readouterr().err
    assert len(error.splitlines()) == 1 and said in error, error


def test_a_slurm_task_id_that_is_no_integer_is_refused_in_one_line():
    with pytest.raises(SweepError, match="not integers"):
        shard_from_env({"SLURM_ARRAY_TASK_ID": "abc", "SLURM_ARRAY_TASK_COUNT": "4"})


def test_blank_lines_in_a_plan_are_no_jobs(tmp_path):
    jobs = tiny_plan(tmp_path)
    path = tmp_path / "jobs.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], "", *lines[1:], "  ", ""]) + "\n\n")
    assert read_plan(tmp_path) == jobs


def test_a_plan_of_no_job_is_not_submitted(tmp_path):
    pytest.importorskip("submitit")
    (tmp_path / "jobs.jsonl").write_text("\n")
    with pytest.raises(SweepError, match="lists no job"):
        submit(tmp_path, executor="local")


def test_weights_a_cluster_can_load_are_planned(tmp_path):
    checkpoint = tmp_path / "mine.pt"
    checkpoint.write_bytes(b"")  # a file that exists: read when the job runs
    jobs = plan(["resnet50"], ["chelsea"], [0], [1], size=32, layers=["conv1"],
                weights=["random", "imagenet", "IMAGENET1K_V2", str(checkpoint)])  # fmt: skip
    assert [j.weights for j in jobs] == ["random", "imagenet", "IMAGENET1K_V2", str(checkpoint.resolve())]
