import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch

import depthrep
from depthrep.studies import linear


@pytest.fixture(scope="module")
def results(resnet18):
    images = torch.rand(2, 3, 32, 32)
    return depthrep.invert(
        resnet18, images, ["conv1", "conv4"], steps=4, record_every=2, progress=False
    ), images


def texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts] + [ax.get_title() for ax in fig.axes]


def test_reconstruction_grid_has_target_start_and_captioned_layers(results):
    res, images = results
    fig = depthrep.show_reconstructions({"a": res, "b": res}, images, start=torch.rand(2, 3, 32, 32), index=1)
    assert len(fig.axes) == 2 * 4
    labels = texts(fig)
    assert "target $a$" in labels and "start $a_0$" in labels and "conv4" in labels
    caption = f"$m_i$ {float(res['conv4'].input_distance[1]):.3g}"
    assert any(t.startswith(caption) for t in labels)
    plt.close(fig)


@pytest.mark.parametrize(
    "draw",
    [
        lambda r: depthrep.plot_history(r),
        lambda r: depthrep.plot_distances(r, index=1),
        lambda r: depthrep.plot.plot_ratios({"m": r}),
        lambda r: depthrep.plot.plot_tradeoff(r),
    ],
)
def test_curve_and_bar_plots_draw_every_layer(draw, results):
    res, _ = results
    fig = draw(res)
    lines = sum(len(ax.lines) + len(ax.patches) for ax in fig.axes)
    assert lines >= len(res)
    plt.close(fig)


def test_gains_plot_draws_three_lines_and_a_band_per_model(results, resnet18):
    res, images = results
    errors = {layer: r.image for layer, r in res.items()}
    gains = depthrep.studies.local_gains(
        resnet18, images, list(res), reconstructions=errors, iterations=2, directions=3
    )
    fig = depthrep.plot.plot_gains({"a": gains, "b": gains}, title="gains")
    assert len(fig.axes) == 2 and fig.axes[0].get_yscale() == "log"
    assert (
        len(fig.axes[0].lines) == 3 * (1 + 2) and len(fig.axes[0].collections) == 1
    )  # mean + a dot row per member
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == list(res)
    plt.close(fig)


def test_series_spiky_ball_and_neighbourhood():
    fig = depthrep.plot.plot_series(
        [1, 2, 3], {"a": torch.rand(3, 2), "b": [1.0, 2.0, 3.0]}, xlabel="x", ylabel="y"
    )
    assert len(fig.axes[0].lines) == 1 + 2 + 1  # mean line + a dot series per seed, and one line
    plt.close(fig)
    maps = linear.random_maps(2)
    fig = depthrep.plot.plot_spiky_ball(
        {"1": linear.preimage_of_circle(maps[:1]), "2": linear.preimage_of_circle(maps)}
    )
    assert len(fig.axes) == 2
    plt.close(fig)
    fig = depthrep.plot.plot_neighbourhood(torch.tensor([10.0, 100.0, 1000.0]), {"ref": 1.0}, xlabel="log")
    assert len(fig.axes[0].lines) == 1
    plt.close(fig)


def test_image_grid_puts_rows_titles_and_captions_where_asked():
    rows = {"a": torch.rand(3, 3, 8, 8), "b": torch.rand(2, 3, 8, 8)}
    fig = depthrep.show_image_grid(
        rows, columns=["x", "y", "z"], captions={"a": ["1", "2", "3"], "b": ["4", "5"]}
    )
    axes = fig.axes
    assert len(axes) == 6 and [a.get_title() for a in axes[:3]] == ["x", "y", "z"]
    assert axes[0].get_ylabel() == "a" and axes[3].get_ylabel() == "b" and axes[4].get_xlabel() == "5"
    assert not axes[5].axison and len(axes[5].images) == 0  # row b is one image short
    plt.close(fig)


def test_heat_map_per_panel_prints_every_value():
    values = torch.rand(3, 2, 4)
    fig = depthrep.plot.plot_heat(
        values, panels=["p", "q", "r"], rows=["l1", "l2"], columns=list("abcd"), label="P"
    )
    heat = [a for a in fig.axes if a.images]
    assert [a.get_title() for a in heat] == ["p", "q", "r"]
    assert heat[1].texts[5].get_text() == f"{float(values[1, 1, 1]):.2f}"
    assert heat[0].images[0].get_array().shape == (2, 4)
    plt.close(fig)


def test_series_can_name_its_x_values():
    fig = depthrep.plot.plot_series(
        range(3), {"a": [1.0, 2.0, 3.0]}, xlabel="x", ylabel="y", xticklabels=["c1", "c2", "c3"]
    )
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["c1", "c2", "c3"]
    plt.close(fig)


def test_depth_profiles_put_m_i_on_the_flat_images_scale(results):
    runs, images = results
    flat = (images - images.mean(dim=(2, 3), keepdim=True)).flatten(1).norm(dim=1)  # per target
    fig = depthrep.plot_depth_profiles({"resnet18": ({"conv1": 0.3, "conv4": 0.8}, runs)}, title="t")
    left, right = fig.axes
    (line, baseline) = left.get_lines()
    assert list(line.get_xdata()) == [0.3, 0.8]
    expected = [float((runs[name].input_distance / flat).mean()) for name in ("conv1", "conv4")]
    assert line.get_ydata() == pytest.approx(expected, rel=1e-5)
    assert list(baseline.get_ydata()) == [1, 1] and baseline.get_label() == "flat mean colour"
    expected = [float(runs[name].reference_ratio.mean()) for name in ("conv1", "conv4")]
    assert right.get_lines()[0].get_ydata() == pytest.approx(expected, rel=1e-5)
    plt.close(fig)
