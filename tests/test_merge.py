"""The merged table of a sweep: its numbers against a NumPy twin, and what it reports missing."""

import csv
import json

import numpy as np
import pytest
import torch

import depthrep
from depthrep.jobs import failure_path, plan, result_path, write_plan
from depthrep.merge import Row, load_results, merge, read_table
from depthrep.sweep import main, run_shard


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
    jobs = depthrep.jobs.read_plan(tmp_path)
    result_path(tmp_path, jobs[0]).parent.mkdir()
    result_path(tmp_path, jobs[0]).write_bytes(result_path(swept, jobs[0]).read_bytes()[:-10])
    failure_path(tmp_path, jobs[1]).write_text(json.dumps({"error": "RuntimeError: boom"}))
    assert main(["merge", str(tmp_path)]) == 3
    out = capsys.readouterr().out
    assert f"corrupt: {jobs[0].id}" in out and f"failed: {jobs[1].id}: RuntimeError: boom" in out
    merged = merge(tmp_path)
    assert merged.rows == () and not merged.complete and merged.missing == ()
    failure_path(tmp_path, jobs[1]).unlink()
    assert merge(tmp_path).missing == (jobs[1].id,)
