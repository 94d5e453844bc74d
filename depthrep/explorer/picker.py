"""A layer picker that works in the static book: every reconstruction computed first, picked
in the browser.

    grid = layer_grid({"resnet18": {"untrained": net, "trained": trained}}, images, steps=150)
    layer_picker(grid)  # a cell's last line shows it

A rendered book page has no Python kernel, so the picker has no Python callbacks at all:
its controls (model, weights, layer, image) are linked in the browser (``jsdlink``) to
nested ``Stack`` widgets that hold one state per combination, computed beforehand and
saved with the page. Each state shows the target beside its reconstruction, a caption with
``m_i``, ``m_g`` and ``m_r``, and a small plot of those distances over the layers with the
chosen layer marked.

The computation (:func:`depthrep.explorer.grid.layer_grid`, one batched :func:`depthrep.invert` call per
model and weights) lives in :mod:`depthrep.explorer.grid`, without widgets; a chapter that has already
inverted every layer can build the grid from its results (:meth:`LayerGrid.from_results`).
"""

from __future__ import annotations

import html
import io
import json

import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter
from PIL import Image

from depthrep.core.results import InversionResult
from depthrep.explorer.grid import LayerGrid, Reconstructions, Results, layer_grid
from depthrep.plot import VIEW_SIDE, enlarged, figure_png, to_picture

__all__ = ["LayerGrid", "LayerPicker", "Reconstructions", "layer_grid", "layer_picker"]

JPEG_QUALITY = 90
"""A reconstruction is saved as JPEG at this quality where that is smaller than its PNG."""
PLOT_DPI = 72
"""Resolution of the per-state distance plots: small files, legible at their display size."""
PLOT_COLOURS = 64
"""Colours of the per-state distance plots (palette PNGs: a quarter of the bytes, the same look)."""
STATE_KEY = "data-state"
"""Attribute of each caption that names its state (``model|weights|layer|image``), for tests.
Labels therefore cannot contain ``|`` (:class:`LayerGrid` refuses them)."""


class LayerPicker:
    """The grid as widgets linked in the browser: it works in a static page with no kernel.

    Every widget is an attribute, so tests can inspect it: :attr:`model` (``ToggleButtons``),
    :attr:`weights` (``{model: ToggleButtons}``, shown for the chosen model only),
    :attr:`layer` (``SelectionSlider``), :attr:`image` (``ToggleButtons``), and :attr:`view`,
    nested ``Stack`` widgets: model, then weights, image and layer. :attr:`links` are the
    browser-side links from the controls' ``index`` to the stacks' ``selected_index``.
    """

    def __init__(self, grid: LayerGrid, *, side: int = VIEW_SIDE):
        if not grid.runs:
            raise ValueError("An empty grid: invert at least one model (layer_grid).")
        self.grid = grid
        self.links: list[W.Widget] = []
        models, layers, images = grid.models, list(grid.layers), list(grid.image_names)
        wide = {"description_width": "5em"}
        self.model = W.ToggleButtons(options=models, index=0, description="model", style=wide)
        self.weights = {
            m: W.ToggleButtons(options=grid.weights(m), index=0, description="weights", style=wide)
            for m in models
        }
        self.image = W.ToggleButtons(options=images, index=0, description="image", style=wide)
        self.layer = W.SelectionSlider(
            options=layers, index=0, description="layer", style=wide, layout=W.Layout(width="32em")
        )
        # Only the given weights per model: a model with one kind says so beside its control.
        alone = {m: W.HTML(f"<small>only {html.escape(grid.weights(m)[0])} {html.escape(m)} here</small>")
                 for m in models if len(grid.weights(m)) == 1}  # fmt: skip
        weights_row = W.Stack(
            [W.HBox([self.weights[m], alone[m]]) if m in alone else self.weights[m] for m in models],
            selected_index=0,
        )
        self._link(self.model, weights_row)

        targets = [self._target(grid.images[i], side) for i in range(len(images))]
        heading = W.HTML("<b>reconstruction a<sub>g</sub></b>")
        by_model = []
        for model in models:
            by_weights = []
            for weights in grid.weights(model):
                by_image = []
                for i in range(len(images)):
                    states = self._states(model, weights, i, targets[i], heading, side)
                    by_image.append(self._link(self.layer, W.Stack(states, selected_index=0)))
                by_weights.append(self._link(self.image, W.Stack(by_image, selected_index=0)))
            by_model.append(self._link(self.weights[model], W.Stack(by_weights, selected_index=0)))
        self.view = self._link(self.model, W.Stack(by_model, selected_index=0))

        style = W.HTML(
            "<style>img.depthrep-pixels {image-rendering: pixelated; flex: none}"
            ".depthrep-picker .widget-hbox > .widget-vbox {flex: none}"
            ".depthrep-picker .widget-toggle-buttons {display: flex; align-items: center}"
            ".depthrep-picker .widget-toggle-button {width: auto; min-width: 7em}"
            ".depthrep-picker-caption {margin-top: 1.6em}</style>"
        )
        self.widget = W.VBox([style, self.model, weights_row, self.image, self.layer, self.view])
        self.widget.add_class("depthrep-picker")

    def _link(self, control: W.Widget, stack: W.Stack) -> W.Stack:
        source = (control, "index")
        self.links.append(W.jsdlink(source, (stack, "selected_index")))
        return stack

    def _target(self, image: torch.Tensor, side: int) -> W.VBox:
        value, fmt, (width, height) = encode_image(image, side)
        view = W.Image(value=value, format=fmt, width=width, height=height)
        view.add_class("depthrep-pixels")
        return W.VBox([W.HTML("<b>target a</b>"), view])

    def _states(self, model, weights, index, target, heading, side) -> list[W.HBox]:
        """One state per layer: target, reconstruction, caption and the distances plot; the plot
        draws the model's first other weights (if any) faintly beside these."""
        results = self.grid.results(model, weights)
        others = [w for w in self.grid.weights(model) if w != weights]
        other = self.grid.results(model, others[0]) if others else None
        plots = distance_plots(results, index, weights, other=other, other_label=others[0] if others else "")
        states = []
        for layer, plot in zip(self.grid.layers, plots, strict=True):
            value, fmt, (width, height) = encode_image(results[layer].image[index], side)
            picture = W.Image(value=value, format=fmt, width=width, height=height)
            picture.add_class("depthrep-pixels")
            words = W.HTML(caption(results[layer], index, model, weights, self.grid.image_names[index]))
            chart = W.Image(value=plot, format="png")
            states.append(W.VBox([W.HBox([target, W.VBox([heading, picture]), words]), chart]))
        return states

    def state_bytes(self) -> int:
        """Bytes of the saved widget state of the picker (what a page embeds), as JSON."""
        from ipywidgets.embed import dependency_state

        return len(json.dumps(dependency_state([self.widget, *self.links], drop_defaults=False)))

    def __repr__(self) -> str:
        g = self.grid
        return (f"LayerPicker({len(g.runs)} models and weights × {len(g.layers)} layers × "
                f"{len(g.image_names)} images)")  # fmt: skip

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = repr(self)  # not the widget's recursive repr of every state
        return bundle


def layer_picker(grid: LayerGrid) -> LayerPicker:
    """A :class:`LayerPicker` for ``grid``; show it by making it a cell's last line."""
    return LayerPicker(grid)


def caption(result: InversionResult, index: int, model: str, weights: str, image: str) -> str:
    """HTML: which state this is, then ``m_i`` (beside ``||a' - a||``, and as PSNR), ``m_g`` and ``m_r``."""
    n = result.summary(index)
    m_i, shift, psnr = n["m_i"], n["shift_distance"], n["psnr"]
    m_g, m_r = (
        float(result.relative_embedding_distance[index]),
        float(result.relative_reference_distance[index]),
    )
    verdict = "<" if m_g < m_r else "≥"
    key = html.escape("|".join((model, weights, result.layer, image)), quote=True)
    return (
        f'<div class="depthrep-picker-caption" {STATE_KEY}="{key}" style="line-height:1.5">'
        f"<b>{html.escape(model)}, {html.escape(weights)}, {html.escape(result.layer)}</b>"
        f" · {html.escape(image)}<br>"
        f"m<sub>i</sub> = ‖a<sub>g</sub> − a‖ = {m_i:.3g} <small>(‖a′ − a‖ = {shift:.3g}; "
        f"PSNR {'∞' if psnr is None else f'{psnr:.1f}'} dB)</small><br>"
        f"m<sub>g</sub> = {m_g:.2g} ‖y‖ {verdict} m<sub>r</sub> = {m_r:.2g} ‖y‖</div>"
    )


def distance_plots(
    results: Results, index: int, label: str, *, other: Results | None = None, other_label: str = ""
) -> list[bytes]:
    """One small PNG per layer: ``m_i`` and ``m_g``, ``m_r`` (over ``||y||``) against the layers,
    with that layer marked. ``other``: the same model with other weights, drawn faintly."""
    names = list(results)
    x = np.arange(len(names))

    def series(rs: Results):
        m_i = np.array([float(r.input_distance[index]) for r in rs.values()])
        m_g = np.array([float(r.relative_embedding_distance[index]) for r in rs.values()])
        m_r = np.array([float(r.relative_reference_distance[index]) for r in rs.values()])
        return m_i, m_g, m_r

    m_i, m_g, m_r = series(results)
    fig, (left, right) = plt.subplots(1, 2, figsize=(7.4, 2.2))
    if other is not None:
        left.plot(x, series(other)[0], "--", color="0.6", lw=1, label=other_label)
    left.plot(x, m_i, "-o", color="C0", ms=3, label=label)
    left.set_title(r"input distance $m_i$", fontsize=9)
    left.set_ylim(0, None)
    right.plot(x, m_g, "-o", color="C0", ms=3, label=r"$m_g$")
    right.plot(x, m_r, "-", color="C1", lw=1, label=r"$m_r$")
    right.set_title(r"embedding distances $/\ \|y\|$", fontsize=9)
    right.set_yscale("log")
    right.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    right.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    right.yaxis.set_minor_formatter(NullFormatter())
    for axis in (left, right):
        axis.set_xticks(x, [n.replace("_", "\n") for n in names], fontsize=8)
        axis.tick_params(labelsize=8)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8, frameon=False)
    marks = [
        left.plot([], [], "o", ms=8, mfc="none", mec="C3", mew=2)[0],
        right.plot([], [], "o", ms=8, mfc="none", mec="C3", mew=2)[0],
        left.axvline(0, color="C3", lw=0.8, alpha=0.6),
        right.axvline(0, color="C3", lw=0.8, alpha=0.6),
    ]
    fig.tight_layout(pad=0.3, w_pad=1.0)
    pngs = []
    try:
        for k in range(len(names)):
            marks[0].set_data([k], [m_i[k]])
            marks[1].set_data([k], [m_g[k]])
            marks[2].set_xdata([k, k])
            marks[3].set_xdata([k, k])
            pngs.append(figure_png(fig, PLOT_DPI, colours=PLOT_COLOURS, close=False))
    finally:
        plt.close(fig)
    return pngs


def encode_image(image: torch.Tensor, side: int = VIEW_SIDE) -> tuple[bytes, str, tuple[int, int]]:
    """``(3, H, W)`` in ``[0, 1]`` at display size: ``(bytes, "png" | "jpeg", (width, height))``.

    An image whose shorter side is larger than ``side`` is shrunk to it; a smaller one is kept
    at its size, and its display size is enlarged by a whole factor (the page scales it,
    pixelated). The aspect ratio is kept. The smaller of PNG and JPEG (quality
    :data:`JPEG_QUALITY`, no chroma subsampling) is kept.
    """
    picture = to_picture(image)
    if min(picture.size) > side:
        scale = side / min(picture.size)
        size = (round(picture.width * scale), round(picture.height * scale))
        picture = picture.resize(size, Image.Resampling.LANCZOS)
    shown = enlarged(picture, side)
    png, jpeg = io.BytesIO(), io.BytesIO()
    picture.save(png, format="png", optimize=True)
    picture.save(jpeg, format="jpeg", quality=JPEG_QUALITY, subsampling=0)
    if jpeg.tell() < png.tell():
        return jpeg.getvalue(), "jpeg", shown
    return png.getvalue(), "png", shown
