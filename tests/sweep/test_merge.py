"""The merged table of a sweep: its numbers against a NumPy twin, and what it reports missing."""

import csv
import json

import numpy as np
import pytest
import torch
from torchvision.utils import save_image

import depthrep
from depthrep.core.jobs import failure_path, plan, result_path, write_plan
from depthrep.sweep.cli import main, run_shard
from depthrep.sweep.merge import Row, load_results, merge, read_table


@pytest.fixture(scope="module")
def swept(tmp_path_factory, device):
    """One model, two seeds, two layers at 32 px, 2 steps, run in this process."""
    directory = tmp_path_factory.mktemp("sweep")
    write_plan(directory, plan(["resnet18"], ["chelsea"], [0, 1], [2], size=32, layers=["conv1", "conv3"]))
    run_shard(directory, device=str(device))
    return directory


def test_each_row_matches_numbers_computed_from_the_reconstruction(swept):
    merged = merge(swept)
    assert merged.complete and len(merged.rows) == 4
    target = depthrep.load_image("chelsea", 32)[0].numpy().astype(np.float64)
    for job in load_results(swept):
        for layer, result in job.results.items():
            (row,) = [r for r in merged.rows if r.job == job.job.id and r.layer == layer]
            error = result.image[0].numpy().astype(np.float64) - target
            assert row.m_i == pytest.approx(np.sqrt((error**2).sum()), rel=1e-5)
            assert row.psnr == pytest.approx(10 * np.log10(1 / (error**2).mean()), rel=1e-5)
            score = depthrep.ssim(result.image[:1].clamp(0, 1), torch.from_numpy(target)[None].float())
            assert row.ssim == pytest.approx(float(score[0]), abs=1e-6)
            assert row.m_g_over_m_r == row.m_g / row.m_r
            assert row.m_i_over_shift == row.m_i / row.shift_distance
            flat = target - target.mean(axis=(1, 2), keepdims=True)  # the mean colour, flat
            assert row.flat_distance == pytest.approx(np.sqrt((flat**2).sum()), rel=1e-5)
            assert row.m_i_over_flat == row.m_i / row.flat_distance
            assert row.relative_m_g == row.m_g / row.target_norm and row.diverged_at is None


def test_the_csv_and_the_json_hold_the_same_rows(swept):
    rows = merge(swept).rows
    assert read_table(swept) == rows
    with open(swept / "merged.csv", newline="") as file:
        table = list(csv.DictReader(file))
    assert [r["layer"] for r in table] == [r.layer for r in rows]
    assert [float(r["m_g"]) for r in table] == [r.m_g for r in rows]  # floats round-trip exactly
    assert list(table[0]) == [f for f in Row.__dataclass_fields__]
    runs = json.loads((swept / "merged.json").read_text())["runs"]
    assert {r.job for r in rows} == set(runs) and all(run["threads"] == 1 for run in runs.values())


def test_missing_failed_and_corrupt_jobs_are_reported(swept, tmp_path, capsys):
    (tmp_path / "jobs.jsonl").write_text((swept / "jobs.jsonl").read_text())
    jobs = depthrep.core.jobs.read_plan(tmp_path)
    result_path(tmp_path, jobs[0]).parent.mkdir()
    result_path(tmp_path, jobs[0]).write_bytes(result_path(swept, jobs[0]).read_bytes()[:-10])
    failure_path(tmp_path, jobs[1]).write_text(json.dumps({"id": jobs[1].id, "error": "RuntimeError: boom"}))
    assert main(["merge", str(tmp_path)]) == 3
    out = capsys.readouterr().out
    assert f"corrupt: {jobs[0].id}" in out and f"failed: {jobs[1].id}: RuntimeError: boom" in out
    merged = merge(tmp_path)
    assert merged.rows == () and not merged.complete and merged.missing == ()
    failure_path(tmp_path, jobs[1]).unlink()
    assert merge(tmp_path).missing == (jobs[1].id,)


@pytest.mark.parametrize(
    "record", ["{not json", "[1, 2]", json.dumps({"error": "RuntimeError: boom"}), "\udcff", "another job's"]
)
def test_an_unreadable_or_misplaced_failure_record_is_reported_not_raised(swept, tmp_path, capsys, record):
    (tmp_path / "jobs.jsonl").write_text((swept / "jobs.jsonl").read_text())
    jobs = depthrep.core.jobs.read_plan(tmp_path)
    path = failure_path(tmp_path, jobs[0])
    path.parent.mkdir()
    if record == "another job's":
        path.write_text(json.dumps({"id": jobs[1].id, "error": "RuntimeError: boom"}))
    else:
        path.write_bytes(record.encode("utf-8", "surrogateescape"))
    assert main(["merge", str(tmp_path)]) == 3
    merged = merge(tmp_path)
    assert list(merged.corrupt) == [jobs[0].id] and not merged.failed
    assert str(path) in merged.corrupt[jobs[0].id] and f"corrupt: {jobs[0].id}" in capsys.readouterr().out


def test_a_result_under_another_jobs_name_is_refused_and_run_again(swept, tmp_path, device):
    (tmp_path / "jobs.jsonl").write_text((swept / "jobs.jsonl").read_text())
    jobs = depthrep.core.jobs.read_plan(tmp_path)
    result_path(tmp_path, jobs[0]).parent.mkdir()
    for job in jobs:  # every job's file holds the first job
        result_path(tmp_path, job).write_bytes(result_path(swept, jobs[0]).read_bytes())
    merged = merge(tmp_path)
    assert list(merged.corrupt) == [j.id for j in jobs[1:]] and "holds the job" in merged.corrupt[jobs[1].id]
    assert {r.job for r in merged.rows} == {jobs[0].id}
    with pytest.raises(depthrep.errors.CorruptResultError, match="not " + jobs[1].id):
        depthrep.core.jobs.load_result(result_path(tmp_path, jobs[1]), jobs[1])
    report = run_shard(tmp_path, device=str(device))
    assert report.skipped == (jobs[0].id,) and report.done == tuple(j.id for j in jobs[1:])
    merged = merge(tmp_path)
    assert merged.complete
    assert sorted(r.job for r in merged.rows) == sorted(j.id for j in jobs for _ in range(2))


def test_scores_are_against_the_target_the_job_inverted_not_the_file_now(tmp_path, device):
    picture = tmp_path / "picture.png"
    save_image(depthrep.load_image("chelsea", 32), picture)
    inverted = depthrep.load_image(picture, 32)
    write_plan(tmp_path, plan(["resnet18"], [str(picture)], [0], [2], size=32, layers=["conv1"]))
    run_shard(tmp_path, device=str(device))
    before = merge(tmp_path).rows
    save_image(depthrep.load_image("coffee", 32), picture)  # the file changes after the run
    (job,) = load_results(tmp_path)
    assert torch.equal(job.target, inverted)
    assert merge(tmp_path).rows == before and before[0].ssim is not None
