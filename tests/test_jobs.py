"""A sweep's jobs: the plan and its ids, one job's run, result files that are atomic and checked."""

import dataclasses
import json

import pytest
import torch

import depthrep
from depthrep.jobs import (
    CorruptResultError,
    Job,
    SweepError,
    load_result,
    plan,
    read_plan,
    result_path,
    run_job,
    save_result,
    write_plan,
)

TINY = Job(model="resnet18", weights="random", layers=("conv1", "conv2"), image="grace_hopper", size=32,
           seed=3, method="adam", steps=2)  # fmt: skip


def test_plan_is_the_full_grid_with_stable_distinct_ids(tmp_path):
    jobs = plan(["resnet18", "resnet34"], ["grace_hopper", "chelsea"], [0, 1], [2, 5], size=32)
    assert len(jobs) == 16 and len({j.id for j in jobs}) == 16
    assert [j.id for j in jobs] == [j.id for j in plan(["resnet18", "resnet34"], ["grace_hopper", "chelsea"],
                                                        [0, 1], [2, 5], size=32)]  # fmt: skip
    assert jobs[0].layers == tuple(depthrep.layers("resnet18"))  # each model's own layers by default
    write_plan(tmp_path, jobs)
    write_plan(tmp_path, jobs)  # the same plan again: fine
    assert read_plan(tmp_path) == jobs
    with pytest.raises(SweepError, match=r"different plan.*--out"):
        write_plan(tmp_path, jobs[:3])


def test_an_id_changes_with_every_setting():
    changes = dict(model="resnet34", weights="imagenet", layers=("conv1",), image="chelsea", size=64, seed=4,
                   method="paper", steps=3, precision="auto")  # fmt: skip
    assert set(changes) == set(TINY.spec())
    ids = {dataclasses.replace(TINY, **{name: value}).id for name, value in changes.items()}
    assert len(ids | {TINY.id}) == len(changes) + 1
    assert TINY.id.startswith("resnet18-random-grace_hopper-32px-seed3-adam-2steps-")


def test_plan_refuses_what_cannot_run_before_anything_runs(tmp_path):
    with pytest.raises(depthrep.UnknownLayerError, match="conv9"):
        plan(["resnet18"], ["grace_hopper"], [0], [2], size=32, layers=["conv9"])
    with pytest.raises(depthrep.UnknownModelError, match="resnet18"):
        plan(["resnet81"], ["grace_hopper"], [0], [2], size=32)
    with pytest.raises(depthrep.ImageError):
        plan(["resnet18"], [str(tmp_path / "missing.png")], [0], [2], size=32)
    with pytest.raises(SweepError, match="No seeds"):
        plan(["resnet18"], ["grace_hopper"], [], [2], size=32)


def test_an_edited_job_line_is_refused(tmp_path):
    write_plan(tmp_path, [TINY])
    line = json.loads((tmp_path / "jobs.jsonl").read_text())
    (tmp_path / "jobs.jsonl").write_text(json.dumps({**line, "seed": 9}) + "\n")
    with pytest.raises(SweepError, match="id does not match"):
        read_plan(tmp_path)
    (tmp_path / "jobs.jsonl").write_text(json.dumps({**line, "seed": "3"}) + "\n")
    with pytest.raises(SweepError, match="wrong type"):
        read_plan(tmp_path)


def test_a_job_is_the_inversion_a_notebook_would_run(tmp_path, device):
    saved = load_result(save_result(tmp_path, run_job(TINY, device)))
    model = depthrep.load_model("resnet18", seed=3, device=device)
    expected = depthrep.invert(model, depthrep.load_image("grace_hopper", 32), ["conv1", "conv2"], 2, seed=3)
    assert list(saved.results) == ["conv1", "conv2"] and saved.job == TINY
    exact = dict(rtol=0, atol=0) if device.type == "cpu" else {}  # CUDA's max-pool backward adds in any order
    for layer, result in expected.items():
        torch.testing.assert_close(saved.results[layer].image, result.image, **exact)
        torch.testing.assert_close(
            saved.results[layer].embedding_distance, result.embedding_distance, **exact
        )
        assert torch.equal(saved.results[layer].history.step, result.history.step)
        assert saved.results[layer].labels == result.labels == {"target": (0,), "seed": (3,)}
    assert saved.device == str(device) and saved.precision == "float32" and saved.versions["torch"]


def test_a_damaged_result_file_is_caught(tmp_path, device):
    path = save_result(tmp_path, run_job(TINY, device))
    data = bytearray(path.read_bytes())
    # One bit of one pixel of the reconstruction: torch.load alone would not notice.
    pixel = load_result(path).results["conv1"].image.flatten()[100].numpy().tobytes()
    at = bytes(data).index(pixel)
    data[at] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptResultError, match=r"digest.*delete it"):
        load_result(path)
    path.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(CorruptResultError, match="unreadable"):
        load_result(path)


def test_a_write_interrupted_half_way_leaves_no_file(tmp_path, device, monkeypatch):
    result = run_job(TINY, device)
    real_save = torch.save

    def killed(payload, tmp):
        real_save(payload, tmp)
        tmp.write_bytes(tmp.read_bytes()[:1000])  # half a file on disk, then the process is stopped
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        save_result(tmp_path, result)
    assert list((tmp_path / "results").iterdir()) == []
    monkeypatch.setattr(torch, "save", real_save)
    assert load_result(save_result(tmp_path, result)).job == TINY
    assert result_path(tmp_path, TINY).exists()


def test_one_run_function_serves_every_face_with_the_same_provenance(device, monkeypatch):
    """The CLI and the explorer's session hand run_job a model they loaded and an image they
    read (an upload is no file); it runs on those, reports each record, and returns the same
    provenance fields as a sweep's job."""
    model = depthrep.load_model("resnet18", seed=TINY.seed, device=device)
    image = torch.rand(1, 3, 32, 32)
    monkeypatch.setattr(depthrep.jobs, "load_model", lambda *a, **k: pytest.fail("loaded the model again"))
    monkeypatch.setattr(depthrep.jobs, "load_image", lambda *a, **k: pytest.fail("read the image file"))
    steps = []
    given = run_job(
        TINY, model=model, image=image, callback=lambda step, _: steps.append(step), record_every=1
    )
    assert steps == [0, 1, 2] and given.target.equal(image)
    expected = depthrep.invert(model, image, TINY.layers, TINY.steps, seed=TINY.seed, progress=False)
    torch.testing.assert_close(given.results["conv2"].image, expected["conv2"].image)
    monkeypatch.undo()
    swept = run_job(TINY, device)
    assert set(given.run()) == set(swept.run()) == {
        "device", "hardware", "precision", "threads", "seconds", "host", "versions"
    }  # fmt: skip
