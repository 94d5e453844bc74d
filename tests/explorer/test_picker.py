"""The precomputed layer picker without a browser: the grid it inverts, the widget tree it
builds, and the browser links emulated in Python (set each link's target from its source,
as the page's JavaScript does, then follow the stacks)."""

import io
import itertools
import re

import ipywidgets as W
import numpy as np
import pytest
import torch
from ipywidgets.widgets.widget_link import DirectionalLink
from PIL import Image

import depthrep
import depthrep.explorer.grid
import depthrep.explorer.picker as lp
from depthrep.explorer.grid import LayerGrid, layer_grid
from depthrep.explorer.picker import LayerPicker, encode_image, layer_picker

STEPS = 3
NAMES = ("grace_hopper", "chelsea")


@pytest.fixture(scope="module")
def images():
    return torch.cat([depthrep.load_image(name, 16) for name in NAMES])


@pytest.fixture(scope="module")
def networks(device):
    """resnet18 with two kinds of weights (random seeds stand in for trained), resnet50 with one."""
    return {
        "resnet18": {
            "untrained": depthrep.load_model("resnet18", seed=0, device=device),
            "trained": depthrep.load_model("resnet18", seed=1, device=device),
        },
        "resnet50": {"untrained": depthrep.load_model("resnet50", seed=0, device=device)},
    }


@pytest.fixture(scope="module")
def grid(networks, images):
    return layer_grid(networks, images, STEPS, image_names=NAMES, seed=3, progress=False)


@pytest.fixture(scope="module")
def picker(grid):
    return layer_picker(grid)


def decode(data: bytes) -> np.ndarray:
    """PNG or JPEG bytes -> ``(H, W, 3)`` levels 0-255 as ints."""
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB")).astype(int)


def pixels(image: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` in [0, 1] -> ``(H, W, 3)`` levels 0-255, as an 8-bit file stores it."""
    return (image.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(int)


def off_by(image: W.Image, expected: np.ndarray) -> int:
    """Largest difference in levels; a PNG must be exact, a JPEG (kept where smaller) close."""
    difference = int(np.abs(decode(image.value) - expected).max())
    return difference if image.format == "png" else max(0, difference - 20)


def follow(picker: LayerPicker) -> W.Box:
    """The state the page shows: apply every link as the browser does, then follow the stacks."""
    for link in picker.links:
        (source, attr), (target, target_attr) = link.source, link.target
        setattr(target, target_attr, getattr(source, attr))
    node = picker.view
    while isinstance(node, W.Stack):
        node = node.children[node.selected_index]
    return node


def shown(leaf: W.Box) -> tuple[str, W.Image, W.Image, W.Image]:
    """(state key of the caption, target image, reconstruction, distances plot) of a state."""
    row, plot = leaf.children
    target_box, reconstruction_box, caption = row.children
    key = re.search(rf'{lp.STATE_KEY}="([^"]+)"', caption.value).group(1)
    return key, target_box.children[1], reconstruction_box.children[1], plot


def test_one_batched_inversion_per_model_and_weights(networks, images, monkeypatch):
    calls = []

    def counting(model, image, layers, steps, **kwargs):
        calls.append((model, len(image), list(layers), steps, kwargs["seed"]))
        return depthrep.invert(model, image, layers, steps, **kwargs)

    monkeypatch.setattr(depthrep.core.jobs, "invert", counting)  # every grid run is a job (run_job)
    grid = layer_grid(networks, images, 1, seed=5, progress=False)
    every = depthrep.layers("resnet18")
    assert [c[1:] for c in calls] == [(2, every, 1, 5)] * 3
    assert [c[0] for c in calls] == [networks["resnet18"]["untrained"], networks["resnet18"]["trained"],
                                     networks["resnet50"]["untrained"]]  # fmt: skip
    assert grid.image_names == ("image 1", "image 2")
    assert grid.layers == tuple(every)


def test_grid_holds_what_a_separate_inversion_gives(grid, networks, images):
    """Batching every layer and image into one run changes nothing: each member evolves alone."""
    alone = depthrep.invert(networks["resnet18"]["trained"], images, ["conv3"], STEPS, seed=3, progress=False)
    batched = grid.results("resnet18", "trained")["conv3"]
    torch.testing.assert_close(batched.image, alone["conv3"].image, rtol=1e-4, atol=1e-4)
    assert grid.models == ["resnet18", "resnet50"]
    assert grid.weights("resnet50") == ["untrained"]
    with pytest.raises(KeyError, match="resnet18/untrained, resnet18/trained, resnet50/untrained"):
        grid.results("resnet50", "trained")


def test_layers_are_put_in_depth_order(networks, images):
    grid = layer_grid({"r18": {"u": networks["resnet18"]["untrained"]}}, images[:1], 1,
                      layers=["conv5", "conv1_prepool", "conv3"], progress=False)  # fmt: skip
    assert grid.layers == ("conv1_prepool", "conv3", "conv5")
    assert list(grid.runs[0].results) == list(grid.layers)


def test_controls_offer_only_the_combinations_in_the_grid(picker):
    assert picker.model.options == ("resnet18", "resnet50")
    assert picker.weights["resnet18"].options == ("untrained", "trained")
    assert picker.weights["resnet50"].options == ("untrained",)  # no "resnet50 trained"
    assert picker.layer.options == tuple(depthrep.layers("resnet18"))
    assert picker.image.options == NAMES


def test_stacks_hold_one_state_per_combination(picker, grid):
    view = picker.view
    assert len(view.children) == 2
    for model, by_weights in zip(grid.models, view.children, strict=True):
        assert len(by_weights.children) == len(grid.weights(model))
        for by_image in by_weights.children:
            assert len(by_image.children) == len(NAMES)
            for by_layer in by_image.children:
                assert len(by_layer.children) == len(grid.layers)
                assert not any(isinstance(leaf, W.Stack) for leaf in by_layer.children)


def test_every_link_is_browser_side_from_a_control_index_to_a_stack(picker):
    stacks = []

    def walk(node):
        if isinstance(node, W.Stack):
            stacks.append(node)
            for child in node.children:
                walk(child)

    walk(picker.view)
    assert all(isinstance(link, DirectionalLink) for link in picker.links)
    assert all(link.source[1] == "index" and link.target[1] == "selected_index" for link in picker.links)
    targets = [link.target[0] for link in picker.links]
    assert all(any(s is t for t in targets) for s in stacks), "a stack no control switches"
    by_source = {}
    for link in picker.links:
        by_source.setdefault(id(link.source[0]), []).append(link.target[0])
    assert len(by_source[id(picker.layer)]) == 3 * len(NAMES)  # one layer stack per (model, weights, image)
    assert len(by_source[id(picker.image)]) == 3
    assert len(by_source[id(picker.model)]) == 2  # the view and the row of weights controls
    assert by_source[id(picker.weights["resnet18"])] == [picker.view.children[0]]


@pytest.mark.parametrize(
    "model, weights, layer, image",
    [(0, 0, 0, 0), (0, 1, 3, 1), (1, 0, 5, 0), (0, 1, 5, 0), (1, 0, 2, 1)],
)
def test_each_setting_of_the_controls_shows_its_own_state(picker, grid, images, model, weights, layer, image):
    picker.model.index, picker.image.index, picker.layer.index = model, image, layer
    m = grid.models[model]
    picker.weights[m].index = weights
    w, name = grid.weights(m)[weights], grid.layers[layer]
    key, target, reconstruction, plot = shown(follow(picker))
    assert key == f"{m}|{w}|{name}|{NAMES[image]}"
    assert off_by(reconstruction, pixels(grid.results(m, w)[name].image[image])) == 0
    assert off_by(target, pixels(images[image])) == 0
    first = picker.view.children[0].children[0].children[0].children[0]
    assert decode(plot.value).shape == decode(first.children[1].value).shape
    assert (plot is first.children[1]) == (key == f"resnet18|untrained|{grid.layers[0]}|{NAMES[0]}")


def test_caption_gives_the_distances_of_its_state(grid):
    result = grid.results("resnet18", "trained")["conv2"]
    text = lp.caption(result, 1, "resnet18", "trained", "chelsea")
    assert f"{float(result.input_distance[1]):.3g}" in text
    assert f"{float(result.relative_embedding_distance[1]):.2g} ‖y‖" in text
    assert f"{float(result.reference_distance[1] / result.target_norm[1]):.2g} ‖y‖" in text
    assert 'data-state="resnet18|trained|conv2|chelsea"' in text


def test_each_plot_marks_its_own_layer(grid):
    """The marker (red, C3; its shade varies with the palette) sits further right in each plot,
    one layer further along: the mean column of the red pixels grows."""
    trained = grid.results("resnet18", "trained")
    plots = [decode(p) for p in lp.distance_plots(trained, 0, "trained")]

    def marker_x(picture):
        r, g, b = picture[..., 0], picture[..., 1], picture[..., 2]
        return ((r > 150) & (g < 100) & (b < 100)).nonzero()[1].mean()

    xs = [marker_x(p) for p in plots]
    assert all(b > a + 5 for a, b in itertools.pairwise(xs)), xs


def test_labels_with_the_key_separator_are_refused(grid, images):
    results = {"resnet|18": {"u": grid.results("resnet18", "untrained")}}
    with pytest.raises(ValueError, match=r"cannot contain '\|'"):
        LayerGrid.from_results(results, images, NAMES)


def test_plots_mark_a_different_layer_each(grid):
    trained, untrained = grid.results("resnet18", "trained"), grid.results("resnet18", "untrained")
    plots = lp.distance_plots(trained, 0, "trained", other=untrained, other_label="untrained")
    assert len(plots) == len(grid.layers)
    decoded = [decode(p) for p in plots]
    assert len({d.shape for d in decoded}) == 1
    assert all(np.abs(a - b).max() > 25 for a, b in itertools.pairwise(decoded))
    assert max(len(p) for p in plots) < 20_000


def test_images_are_stored_at_display_size():
    small = torch.rand(3, 20, 20)
    data, _, shown = encode_image(small, 192)
    assert decode(data).shape == (20, 20, 3) and shown == (180, 180)  # enlarged 9x by the page
    flat = torch.full((3, 400, 400), 0.5)
    data, _, shown = encode_image(flat, 192)
    assert decode(data).shape == (192, 192, 3) and shown == (192, 192)
    assert np.abs(decode(data) - 128).max() <= 1


def test_images_keep_their_aspect_ratio():
    data, _, shown = encode_image(torch.rand(3, 32, 64), 192)  # (3, H, W): wide
    assert decode(data).shape == (32, 64, 3) and shown == (384, 192)  # (width, height)
    data, _, shown = encode_image(torch.rand(3, 800, 400), 192)
    assert decode(data).shape == (384, 192, 3) and shown == (192, 384)


def test_state_is_small_and_the_repr_short(picker):
    leaves = 3 * len(NAMES) * len(depthrep.layers("resnet18"))
    assert picker.state_bytes() < 40_000 * leaves
    bundle = picker._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/plain"] == "LayerPicker(3 models and weights × 6 layers × 2 images)"


def test_grid_from_results_picks_one_member_per_image(grid, images):
    joined = {"u": depthrep.concat_results([grid.results("resnet18", "untrained")] * 2, start=["a", "b"])}
    with pytest.raises(ValueError, match="where="):
        LayerGrid.from_results({"resnet18": joined}, images, NAMES)
    picked = LayerGrid.from_results({"resnet18": joined}, images, NAMES, where={"start": "b"})
    result = picked.results("resnet18", "u")["conv4"]
    original = grid.results("resnet18", "untrained")["conv4"]
    assert torch.equal(result.image, original.image)
    assert torch.equal(result.history.input_distance, original.history.input_distance)
    assert picked.layers == grid.layers


def test_grid_refuses_models_with_different_layers(grid, images):
    short = {k: v for k, v in grid.results("resnet18", "untrained").items() if k != "conv5"}
    with pytest.raises(ValueError, match="invert the same layers with every model"):
        LayerGrid.from_results(
            {"a": {"u": grid.results("resnet18", "untrained")}, "b": {"u": short}}, images, NAMES
        )
