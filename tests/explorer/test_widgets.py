"""The explorer, driven through its widgets as a reader would, with ipywidgets and no browser."""

import datetime
import io
import time

import numpy as np
import pytest
import torch
from PIL import Image

import depthrep
import depthrep.explorer.session
from depthrep.explorer.widgets import Explorer, explore
from depthrep.plot import VIEW_SIDE

RESNET_LAYERS = ["conv1_prepool", "conv1", "conv2", "conv3", "conv4", "conv5"]


@pytest.fixture
def explorer(device):
    """A resnet18 explorer at 32 px and 4 steps that runs in the calling thread."""
    return Explorer(size=32, steps=4, device=device, threaded=False)


def decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def as_bytes(image: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` in [0, 1] -> ``(H, W, 3)`` uint8, as a PNG stores it."""
    return (image.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def upload(name: str, content: bytes) -> dict:
    """One file as ipywidgets' FileUpload holds it after a browser upload."""
    return {"name": name, "type": "image/png", "size": len(content), "content": memoryview(content),
            "last_modified": datetime.datetime(2026, 1, 1)}  # fmt: skip


def test_changing_the_model_refills_the_layer_list(explorer):
    assert list(explorer.layer.options) == RESNET_LAYERS
    explorer.model.value = "vgg11"
    assert list(explorer.layer.options) == ["pool1", "pool2", "pool3", "pool4", "pool5"]
    assert explorer.layer.value in explorer.layer.options
    assert "vgg11" in explorer.message.value
    explorer.model.value = "resnet50"
    assert list(explorer.layer.options) == RESNET_LAYERS


def test_unavailable_weights_are_labelled_and_refused(device, tmp_path, monkeypatch, cache):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no ImageNet file; nothing trained in cache
    explorer = Explorer(size=32, steps=2, device=device, threaded=False)
    labels = dict((value, label) for label, value in explorer.weights.options)
    assert labels["random"] == "random"
    assert labels["imagenet"].startswith("imagenet (not downloaded")
    assert labels["local"].startswith("local (not trained here yet")
    assert not any(str(tmp_path) in label for label in labels.values())  # the labels name no folder
    before = explorer.reconstruction_view.value
    explorer.weights.value = "imagenet"
    assert "unavailable" in explorer.message.value
    assert explorer.run() is None
    assert "Pick other weights" in explorer.message.value
    assert explorer.results is None and explorer.reconstruction_view.value == before
    assert explorer.run_button.description == "Run"


def test_run_button_shows_the_reconstruction_and_its_distances(explorer, resnet18, hopper32):
    before = explorer.reconstruction_view.value
    explorer.layer.value = "conv1"
    explorer.run_button.click()
    result = explorer.results["conv1"]
    assert list(explorer.results) == ["conv1"] and result.steps == 4
    assert explorer.run_button.description == "Run" and "4 steps" in explorer.message.value

    shown = decode(explorer.reconstruction_view.value)
    factor = VIEW_SIDE // 32
    assert shown.shape == (32 * factor, 32 * factor, 3) and explorer.reconstruction_view.value != before
    np.testing.assert_array_equal(shown[::factor, ::factor], as_bytes(result.image[0]))
    np.testing.assert_array_equal(
        decode(explorer.target_view.value)[::factor, ::factor], as_bytes(hopper32[0])
    )

    # The numbers shown, each from an independent computation.
    m_i = float((result.image - hopper32).norm())
    reference = depthrep.shifted_reference(resnet18, hopper32, "conv1").distance
    norm = depthrep.embed(resnet18, hopper32, ["conv1"])["conv1"].norm()
    table = explorer.distances.value
    assert f"<td>{m_i:.3g}</td>" in table
    assert f"<td>{float(reference.cpu() / norm.cpu()):.3g}</td>" in table
    assert table.count("<tr>") == 2  # head and one layer
    assert explorer.curves_view.value != before and explorer.grid_view.layout.display == "none"


def test_compare_layers_inverts_every_layer_in_one_call(explorer, monkeypatch):
    calls = []
    real = depthrep.core.jobs.invert  # the session runs its jobs through jobs.run_job
    monkeypatch.setattr(
        depthrep.core.jobs, "invert", lambda *a, **k: calls.append(list(a[2])) or real(*a, **k)
    )
    explorer.compare.value = True
    assert explorer.layer.disabled
    explorer.run_button.click()
    assert calls == [RESNET_LAYERS]
    assert list(explorer.results) == RESNET_LAYERS
    assert explorer.distances.value.count("<tr>") == 1 + len(RESNET_LAYERS)
    assert explorer.grid_view.layout.display is None
    grid = decode(explorer.grid_view.value)
    assert grid.shape[1] > 3 * grid.shape[0]  # one row: the target, then six layers
    tiles = decode(explorer.reconstruction_view.value)
    assert tiles.shape[1] > 6 * tiles.shape[0]


def test_stop_interrupts_a_threaded_run(device):
    explorer = Explorer(size=32, steps=100_000, layer="conv2", device=device)  # threaded, as in a notebook
    explorer.run_button.click()
    assert explorer.running and explorer.run_button.description == "Stop"  # the click did not block
    assert explorer.model.disabled
    deadline = time.monotonic() + 60
    while explorer.results is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert explorer.results is not None, "no record within 60 s"
    explorer.run_button.click()
    assert explorer.wait(timeout=60), "Stop did not end the run within 60 s"
    steps = explorer.results["conv2"].steps
    assert steps < 1000
    assert f"Stopped at step {steps} of 100000" in explorer.message.value
    assert explorer.run_button.description == "Run" and not explorer.model.disabled


def test_a_bad_upload_gives_a_message_and_changes_nothing(explorer):
    options, target = explorer.image.options, explorer.target
    explorer.upload.value = (upload("notes.png", b"this is not a picture"),)
    assert "Cannot read the upload notes.png" in explorer.message.value
    assert explorer.image.options == options and explorer.target is target
    explorer.run_button.click()  # and the explorer still works
    assert explorer.results is not None


def test_an_upload_becomes_the_target(explorer):
    picture = np.zeros((40, 60, 3), np.uint8)
    picture[..., 0] = 255  # pure red
    data = io.BytesIO()
    Image.fromarray(picture).save(data, format="png")
    explorer.upload.value = (upload("red.png", data.getvalue()),)
    assert explorer.image.value == "upload: red.png"
    assert explorer.target.shape == (1, 3, 32, 32)
    assert torch.allclose(explorer.target[0, :, 16, 16], torch.tensor([1.0, 0.0, 0.0]), atol=1e-3)
    assert (decode(explorer.target_view.value) == [255, 0, 0]).all()


def test_explore_displays_as_the_widget():
    explorer = explore(size=32, steps=2)
    bundle = explorer._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == explorer.widget.model_id


def test_a_diverged_run_is_reported_in_the_message_line():
    import warnings

    import depthrep
    from depthrep.core.methods import METHODS
    from depthrep.explorer.widgets import Explorer

    explode = depthrep.get_method("paper", lr=(1e5, 1e5), blur=None)
    explorer = Explorer(model="resnet18", layer="conv5", size=32, steps=5, method="paper", threaded=False,
                        methods={"explode": explode})  # fmt: skip
    assert list(explorer.method.options) == [*METHODS, "explode"] and "explode" not in METHODS
    explorer.method.value = "explode"
    assert explorer._job().method == explode
    # one that takes a preset's name replaces it; a preset left as it is goes by its name
    mine = Explorer(model="resnet18", size=32, steps=5, threaded=False, methods={"adam": explode})
    assert mine._job().method == explode
    assert Explorer(model="resnet18", size=32, threaded=False)._job().method == "adam"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", depthrep.errors.DivergenceWarning)
        explorer.run(wait=True)
    assert "Diverged" in explorer.message.value and "conv5" in explorer.message.value


def test_running_is_the_sessions_state_not_the_buttons_label(explorer):
    explorer.run_button.description = "Stop"  # a label is no state: the explorer asks its session
    assert not explorer.running and not explorer.session.running
    explorer.run_button.click()  # so the click runs, as it would from "Run"
    assert explorer.results is not None and explorer.run_button.description == "Run"


def test_a_drawing_that_fails_is_not_reported_as_a_failed_run(explorer, monkeypatch):
    def broken(*_):
        raise RuntimeError("no canvas")

    monkeypatch.setattr(depthrep.explorer.views, "distance_table", broken)
    explorer.layer.value = "conv1"
    explorer.run_button.click()
    message = explorer.message.value
    assert "pictures could not be drawn" in message and "no canvas" in message
    assert "The run failed" not in message
    assert explorer.results["conv1"].steps == 4 and explorer.run_button.description == "Run"
