"""A sweep's jobs: the plan and its ids, one job's run, result files that are atomic and checked."""

import dataclasses
import json

import pytest
import torch

import depthrep
from depthrep.core.jobs import (
    Job,
    load_result,
    model_reference,
    plan,
    read_plan,
    result_path,
    run_job,
    run_on,
    save_result,
    tensor_reference,
    write_plan,
)
from depthrep.errors import CorruptResultError, SweepError

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
                   method="paper", steps=3, precision="auto", normalize=True)  # fmt: skip
    assert set(changes) == set(TINY.spec())
    ids = {dataclasses.replace(TINY, **{name: value}).id for name, value in changes.items()}
    assert len(ids | {TINY.id}) == len(changes) + 1
    assert TINY.id.startswith("resnet18-random-grace_hopper-32px-seed3-adam-2steps-")


def test_plan_refuses_what_cannot_run_before_anything_runs(tmp_path):
    with pytest.raises(depthrep.errors.UnknownLayerError, match="conv9"):
        plan(["resnet18"], ["grace_hopper"], [0], [2], size=32, layers=["conv9"])
    with pytest.raises(depthrep.errors.UnknownModelError, match="resnet18"):
        plan(["resnet81"], ["grace_hopper"], [0], [2], size=32)
    with pytest.raises(depthrep.errors.ImageError):
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
    monkeypatch.setattr(
        depthrep.core.jobs, "load_model", lambda *a, **k: pytest.fail("loaded the model again")
    )
    monkeypatch.setattr(depthrep.core.jobs, "load_image", lambda *a, **k: pytest.fail("read the image file"))
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


def test_a_method_with_overrides_and_normalize_survive_the_job_list(tmp_path):
    """A job names a method preset or holds a Method with its overrides; both, and normalize,
    come back from the job list as they were, and each override gives another id."""
    custom = dataclasses.replace(TINY, method=depthrep.get_method("adam", lr=(0.1, 0.005)), normalize=True)
    other = dataclasses.replace(custom, method=depthrep.get_method("adam", lr=(0.1, 0.006)))
    assert len({TINY.id, custom.id, other.id}) == 3 and "-custom-" in custom.id
    write_plan(tmp_path, [TINY, custom, other])
    assert read_plan(tmp_path) == [TINY, custom, other]
    old = {k: v for k, v in TINY.spec().items() if k != "normalize"}  # a list written before normalize
    assert Job.from_spec(old) == TINY
    with pytest.raises(SweepError, match="method"):
        Job.from_spec({**TINY.spec(), "method": {"optimizer": "adam", "lr": [-1, 0]}})
    with pytest.raises(SweepError, match="normalize"):
        Job.from_spec({**TINY.spec(), "normalize": "yes"})


def test_a_job_of_a_model_and_targets_in_memory_names_them_by_digest(device):
    """run_on makes the job of a loaded model and a batch of targets: both named by their
    digest, so the job refuses to run without them or with others."""
    model = depthrep.load_model("resnet18", seed=1, device=device)
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    done = run_on(model, images, ["conv1"], 2, seed=4, name="r18", method="paper", progress=False)
    job = done.job
    assert (job.model, job.seed, job.method, job.size, job.layers) == ("r18", 4, "paper", 32, ("conv1",))
    assert job.image == tensor_reference(images) and job.image.startswith("sha256:")
    assert job.weights == model_reference(model) and "-memory-" in job.id
    assert done.results["conv1"].image.shape == (2, 3, 32, 32) and done.target.equal(images)
    with pytest.raises(SweepError, match="pass image="):
        run_job(job, model=model)
    with pytest.raises(SweepError, match="other targets"):
        run_job(job, model=model, image=images.flip(0))
    with pytest.raises(SweepError, match="pass it as model="):
        run_job(job, image=images)
    with pytest.raises(SweepError, match="another model"):
        run_job(job, model=depthrep.load_model("resnet18", seed=2, device=device), image=images)
    with pytest.raises(TypeError, match="shift_sigma"):
        run_on(model, images, ["conv1"], 2, shift_sigma=0.1)


def test_the_seed_start_and_judge_sweeps_and_the_grid_run_jobs(device, monkeypatch):
    """Every face that inverts runs jobs (run_job, or run_on for what is in memory): one job per
    seed or start, holding the settings that change the numbers."""
    jobs = []
    real = depthrep.core.jobs._run  # what run_job runs once it has checked the job

    def counting(job, *args, **kwargs):
        jobs.append(job)
        return real(job, *args, **kwargs)

    monkeypatch.setattr(depthrep.core.jobs, "_run", counting)
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    depthrep.invert_over_seeds("resnet18", images, "conv1", 2, (0, 3), method="paper", normalize=True,
                               device=device, progress=False)  # fmt: skip
    assert [(j.model, j.weights, j.seed, j.method, j.normalize) for j in jobs] == [
        ("resnet18", "random", 0, "paper", True), ("resnet18", "random", 3, "paper", True)
    ]  # fmt: skip
    model = depthrep.load_model("resnet18", device=device)
    jobs.clear()
    depthrep.invert_over_starts(model, images, ["conv1"], 2, (1, 2), progress=False)
    assert [j.seed for j in jobs] == [1, 2] and {j.weights for j in jobs} == {model_reference(model)}
    jobs.clear()
    depthrep.explorer.layer_grid({"r18": {"u": model}}, images, 1, layers=["conv1"], seed=5, progress=False)
    assert [(j.model, j.seed, j.layers) for j in jobs] == [("r18", 5, ("conv1",))]
