"""The explorer's run without its widgets: a session started, recorded, stopped and failed."""

import threading
from dataclasses import replace

import pytest
import torch

import depthrep
from depthrep.core.jobs import Job
from depthrep.explorer.session import STOP_EVERY, Refused, Session, ViewFailed, record_every
from depthrep.explorer.views import distance_table, end_line, reconstructions_png
from depthrep.plot import png


@pytest.fixture
def job():
    return Job("resnet18", "random", ("conv1", "conv3"), "grace_hopper", 32, seed=2, method="adam", steps=6)


def test_a_session_runs_the_inversion_a_script_would(job, device, hopper32):
    records = []
    ended = []
    results = Session(device, threaded=False).start(
        job, hopper32, on_record=lambda j, step, r: records.append((step, list(r))), on_end=ended.append
    )
    model = depthrep.load_model("resnet18", seed=2, device=device)
    expected = depthrep.invert(model, hopper32, ["conv1", "conv3"], 6, seed=2, record_every=1, progress=False)
    for name in ("conv1", "conv3"):
        torch.testing.assert_close(results[name].image, expected[name].image)
    assert [step for step, _ in records] == list(range(7)) and records[0][1] == ["conv1", "conv3"]
    assert ended[0].results is results and ended[0].job is job and ended[0].seconds > 0
    assert ended[0].target is hopper32
    assert "6 steps in" in end_line(ended[0]) and "Stopped" not in end_line(ended[0])


def test_record_every_is_about_forty_records_and_at_most_the_stop_interval():
    assert record_every(400) == 10 and record_every(100_000) == STOP_EVERY and record_every(3) == 1


def test_stop_ends_a_threaded_run_at_its_next_record_and_keeps_what_it_reached(job, device, hopper32):
    session = Session(device)
    recorded = threading.Event()
    ended = []
    long = replace(job, steps=100_000, layers=("conv1",))
    assert session.start(long, hopper32, on_record=lambda *_: recorded.set(), on_end=ended.append) is None
    assert session.running
    with pytest.raises(Refused, match="stop it first"):
        session.start(long, hopper32)
    assert recorded.wait(60), "no record within 60 s"
    session.stop()
    assert session.wait(timeout=60), "stop did not end the run within 60 s"
    assert not session.running and ended[0].results["conv1"].steps < 100_000
    assert "Stopped at step" in end_line(ended[0])


def test_errors_reach_on_error_not_the_caller(job, device, hopper32):
    errors = []
    bad = replace(job, method="nonsense")
    session = Session(device, threaded=False)
    assert session.start(bad, hopper32, on_error=errors.append) is None
    assert isinstance(errors[0], depthrep.errors.MethodError) and not session.running
    assert session.results is None

    def broken_view(*_):
        raise RuntimeError("no canvas")

    session.start(job, hopper32, on_end=broken_view, on_error=errors.append)
    assert isinstance(errors[1], ViewFailed)
    assert str(errors[1]) == "drawing the end failed: RuntimeError: no canvas"
    assert session.results["conv3"].steps == 6 and not session.running  # the run's results stand

    session.start(job, hopper32, on_record=broken_view, on_error=errors.append)
    assert isinstance(errors[2], ViewFailed) and str(errors[2]).startswith("drawing step 0 failed")
    assert isinstance(errors[2].__cause__, RuntimeError) and session.results is not None


def test_the_model_is_loaded_once_for_jobs_on_the_same_model(job, device):
    session = Session(device, threaded=False)
    first = session.model(job)
    assert session.model(replace(job, steps=2)) is first
    assert session.model(replace(job, seed=3)) is not first


def test_the_views_show_the_results_values(job, device, hopper32):
    results = Session(device, threaded=False).start(job, hopper32)
    table = distance_table(results)
    assert table.count("<tr>") == 3
    assert f"<td>{float(results['conv3'].input_distance[0]):.3g}</td>" in table
    wide = reconstructions_png(job, results)
    assert wide != png(results["conv1"].image[0])


def test_running_holds_while_the_views_draw_and_ends_even_on_an_interrupt(job, device, hopper32):
    session = Session(device, threaded=False)
    during = []
    session.start(job, hopper32, on_end=lambda _: during.append(session.running))
    assert during == [True] and not session.running

    def interrupt(*_):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        session.start(job, hopper32, on_record=interrupt)
    assert not session.running  # the next run may start
    assert session.start(job, hopper32) is not None
