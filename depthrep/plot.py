"""Figures: reconstruction grids labelled with the paper's distances, curves and bars.

Every function takes results (``{layer: InversionResult}``) and returns a matplotlib
``Figure``; none calls ``plt.show()``. For widgets and pages: an image or a figure as PNG
bytes, at the display size the explorer and the book's picker share (:data:`VIEW_SIDE`).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from PIL import Image

from depthrep.core.results import InversionResult, Results
from depthrep.studies.gains import Gains

__all__ = [
    "plot_depth_profiles",
    "plot_distances",
    "plot_gains",
    "plot_heat",
    "plot_history",
    "plot_neighbourhood",
    "plot_ratios",
    "plot_series",
    "plot_spiky_ball",
    "plot_tradeoff",
    "show_filters",
    "show_image_grid",
    "show_reconstructions",
]

VIEW_SIDE = 192
"""Pixels: images smaller than this are enlarged (nearest neighbour, whole factor) for display,
in the live explorer and in the book's static layer picker alike."""


def to_picture(image: torch.Tensor) -> Image.Image:
    """``(3, H, W)`` or ``(1, 3, H, W)`` in ``[0, 1]`` as an 8-bit RGB PIL image."""
    return Image.fromarray((to_numpy_image(image) * 255).round().astype(np.uint8))


def enlarged(picture: Image.Image, side: int = VIEW_SIDE) -> tuple[int, int]:
    """Display size of ``picture``: enlarged by the whole factor that brings its shorter side
    towards ``side`` (never shrunk)."""
    factor = max(1, side // min(picture.size))
    return picture.width * factor, picture.height * factor


def png(image: torch.Tensor, side: int = VIEW_SIDE) -> bytes:
    """``(3, H, W)`` in ``[0, 1]`` as PNG bytes, enlarged by a whole factor towards ``side``."""
    picture = to_picture(image)
    if enlarged(picture, side) != picture.size:
        picture = picture.resize(enlarged(picture, side), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="png")
    return buffer.getvalue()


def figure_png(fig: Figure, dpi: int = 80, *, colours: int | None = None, close: bool = True) -> bytes:
    """A figure as PNG bytes.

    Args:
        colours: keep this many colours (a palette PNG: about a quarter of the bytes of a
            full-colour one, the same look for line plots); ``None``: full colour.
        close: close the figure, so that no notebook shows it a second time (``False``: the
            caller draws on it again and closes it).
    """
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        if close:
            plt.close(fig)
    if colours is None:
        return buffer.getvalue()
    with Image.open(buffer) as im:
        small = im.convert("RGB").quantize(colors=colours, method=Image.Quantize.MEDIANCUT)
    out = io.BytesIO()
    small.save(out, format="png", optimize=True)
    return out.getvalue()


def to_numpy_image(image: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` or ``(1, 3, H, W)`` in ``[0, 1]`` -> ``(H, W, 3)`` array for ``imshow``."""
    image = image.detach().float().cpu()
    if image.ndim == 4:
        image = image[0]
    return image.clamp(0, 1).permute(1, 2, 0).numpy()


def layer_colors(names) -> dict[str, tuple]:
    """One colour per layer, shallow (light) to deep (dark), in the given order."""
    names = list(names)
    cmap = plt.get_cmap("viridis_r")
    return {n: cmap(0.15 + 0.8 * i / max(len(names) - 1, 1)) for i, n in enumerate(names)}


def caption(result: InversionResult, index: int = 0) -> str:
    """``m_i`` and ``m_g`` (with ``m_r``), as relative embedding distances; a member that
    diverged says where, and a zero embedding (relative distances undefined) says so."""
    m_i = float(result.input_distance[index])
    if float(result.target_norm[index]) == 0:
        text = f"$m_i$ {m_i:.3g}\nembedding $O(a) = 0$"
    else:
        m_g = float(result.relative_embedding_distance[index])
        m_r = float(result.relative_reference_distance[index])
        text = f"$m_i$ {m_i:.3g}\n$m_g$ {m_g:.2g}|y| ($m_r$ {m_r:.2g})"
    if result.diverged[index]:
        text += f"\nDIVERGED at step {int(result.diverged_at[index])}"
    return text


def show_reconstructions(
    results: Results | Mapping[str, Results],
    target: torch.Tensor | None = None,
    *,
    start: torch.Tensor | None = None,
    index: int = 0,
    title: str | None = None,
    size: float = 1.9,
) -> Figure:
    """A grid: the target, then the reconstruction from each layer, labelled with distances.

    Args:
        results: ``{layer: InversionResult}`` for one row, or ``{row label: {layer: ...}}``
            for several (models, weights, images).
        target: ``(B, 3, H, W)``: shown in the first column when given.
        start: ``(B, 3, H, W)``: the starting noise, shown after the target when given.
        index: which image of the batch to show.
    """
    rows = _rows(results)
    fixed = [(im, label) for im, label in ((target, "target $a$"), (start, "start $a_0$")) if im is not None]
    columns = max(len(r) for r in rows.values()) + len(fixed)
    fig, axes = plt.subplots(
        len(rows), columns, figsize=(size * columns, (size + 0.55) * len(rows)), squeeze=False
    )
    for axis in axes.flat:
        axis.axis("off")
    for row, (label, row_results) in enumerate(rows.items()):
        for col, (image, name) in enumerate(fixed):
            axes[row, col].imshow(to_numpy_image(image[index]))
            axes[row, col].set_title(name, fontsize=9)
        for col, (layer, result) in enumerate(row_results.items(), len(fixed)):
            axes[row, col].imshow(to_numpy_image(result.image[index]))
            axes[row, col].set_title(layer, fontsize=9)
            axes[row, col].text(
                0.5, -0.04, caption(result, index), transform=axes[row, col].transAxes,
                ha="center", va="top", fontsize=7.5, color="tab:red" if result.diverged[index] else "black",
            )  # fmt: skip
        if label:
            axes[row, 0].text(
                -0.08, 0.5, label, transform=axes[row, 0].transAxes, rotation=90,
                ha="right", va="center", fontsize=9,
            )  # fmt: skip
    return _finish(fig, title)


def plot_history(results: Results, *, index: int = 0, title: str | None = None) -> Figure:
    """``m_i`` and ``m_g / ||O(a)||`` against the step, one line per layer."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    colors = layer_colors(results)
    for name, result in results.items():
        history = result.history
        steps = history.step.numpy()
        left.plot(steps, history.input_distance[:, index].numpy(), color=colors[name], label=name)
        relative = history.embedding_distance[:, index] / result.target_norm[index]
        right.plot(steps, relative.numpy(), color=colors[name], label=name)
    left.set(xlabel="step", ylabel=r"input distance $m_i = \|a_g - a\|$")
    right.set(xlabel="step", ylabel=r"embedding distance $m_g / \|O(a)\|$", yscale="log")
    left.legend(fontsize=8, frameon=False)
    for axis in (left, right):
        axis.grid(alpha=0.3)
    return _finish(fig, title)


def plot_distances(results: Results, *, index: int = 0, title: str | None = None) -> Figure:
    """Per layer: ``m_g`` beside ``m_r`` (embedding space), and ``m_i`` beside ``||a' - a||``.

    The paper's test of non-uniqueness: where ``m_g < m_r`` the layer cannot tell the
    reconstruction from the target better than it tells a barely shifted copy, however
    far the reconstruction is in pixels.
    """
    names = list(results)
    x = np.arange(len(names))
    width = 0.38
    m_g = [float(r.relative_embedding_distance[index]) for r in results.values()]
    m_r = [float(r.relative_reference_distance[index]) for r in results.values()]
    m_i = [float(r.input_distance[index]) for r in results.values()]
    shifted = [float(r.shift_distance[index]) for r in results.values()]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    left.bar(x - width / 2, m_g, width, label=r"$m_g$ (reconstruction $a_g$)", color="C0")
    left.bar(x + width / 2, m_r, width, label=r"$m_r$ (shifted input $a'$)", color="C1")
    left.set(ylabel=r"embedding distance / $\|O(a)\|$", yscale="log")
    right.bar(x - width / 2, m_i, width, label=r"$\|a_g - a\|$", color="C0")
    right.bar(x + width / 2, shifted, width, label=r"$\|a' - a\|$", color="C1")
    right.set(ylabel="input distance (L2 over pixels)")
    for axis in (left, right):
        axis.set_xticks(x, names, rotation=30, ha="right")
        axis.legend(fontsize=8, frameon=False)
        axis.grid(axis="y", alpha=0.3)
    return _finish(fig, title)


def plot_ratios(rows: Results | Mapping[str, Results], *, title: str | None = None) -> Figure:
    """The paper's two ratios per layer, one line per row (model), a dot per batch member.

    Left, ``m_g / m_r``: below 1 the layer sees the reconstruction as closer to the target
    than a barely shifted copy ``a'``. Right, ``m_i / ||a' - a||``: above 1 the
    reconstruction is farther from the target in pixels than ``a'``. Non-uniqueness is
    both at once.
    """
    rows = _rows(rows)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for k, (label, results) in enumerate(rows.items()):
        names = list(results)
        x = np.arange(len(names))
        embedding = torch.stack([r.reference_ratio for r in results.values()])
        pixels = torch.stack([r.shift_ratio for r in results.values()])
        for axis, values in ((left, embedding), (right, pixels)):
            color = f"C{k}"
            axis.plot(x, values.mean(1).numpy(), "-", color=color, label=label or None)
            for member in range(values.shape[1]):
                axis.plot(x, values[:, member].numpy(), "o", color=color, ms=3, alpha=0.6)
            axis.set_xticks(x, names, rotation=30, ha="right")
    left.set(ylabel=r"$m_g / m_r$", yscale="log")
    right.set(ylabel=r"$m_i / \|a' - a\|$", yscale="log")
    for axis in (left, right):
        axis.axhline(1, color="k", lw=0.8, ls="--")
        axis.grid(alpha=0.3)
    if any(rows):
        left.legend(fontsize=8, frameon=False)
    return _finish(fig, title)


def plot_gains(models: Mapping[str, Mapping[str, Gains]], *, title: str | None = None) -> Figure:
    """Local gains per layer (:func:`depthrep.studies.local_gains`), a panel per model, log scale: the
    largest gain, the median over random directions (the band: their 10th to 90th
    percentile) and the gain along the reconstruction's error; a dot per batch member."""
    fig, axes = plt.subplots(1, len(models), figsize=(4.6 * len(models), 3.6), squeeze=False, sharey=True)
    for ax, (label, gains) in zip(axes[0], models.items(), strict=True):
        x = np.arange(len(gains))
        random = torch.stack([g.random for g in gains.values()])  # (layers, B, D)
        low, high = (random.flatten(1).quantile(q, dim=1).numpy() for q in (0.1, 0.9))
        ax.fill_between(x, low, high, color="C1", alpha=0.2, lw=0)
        lines = {"largest": [g.largest for g in gains.values()],
                 "random (median)": [g.typical for g in gains.values()]}  # fmt: skip
        if all(g.error is not None for g in gains.values()):
            lines["along the error $a_g - a$"] = [g.error for g in gains.values()]
        for k, (name, values) in enumerate(lines.items()):
            values = torch.stack(values)  # (layers, B)
            ax.plot(x, values.mean(1).numpy(), "-", color=f"C{k}", label=name)
            for member in values.T:
                ax.plot(x, member.numpy(), "o", color=f"C{k}", ms=3, alpha=0.6)
        ax.set_xticks(x, list(gains), rotation=30, ha="right")
        ax.set(yscale="log", title=label)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel(r"gain $\|J v\| / \|v\|$")
    axes[0, 0].legend(fontsize=8, frameon=False)
    return _finish(fig, title)


def plot_tradeoff(runs: Mapping[str, InversionResult], *, index: int = 0, title: str | None = None) -> Figure:
    """``m_i`` against ``m_g / ||O(a)||`` over each run, log-log; the run goes right to left.

    Where a curve runs flat, the embedding keeps improving while the reconstruction does not.
    """
    fig, ax = plt.subplots(figsize=(6, 4))
    for k, (label, r) in enumerate(runs.items()):
        h = r.history
        x = (h.embedding_distance[:, index] / r.target_norm[index]).numpy()
        y = h.input_distance[:, index].numpy()
        ax.plot(x, y, "-", color=f"C{k}", label=label)
        ax.plot(x[0], y[0], "o", color=f"C{k}", ms=5)
        ax.plot(x[-1], y[-1], "*", color=f"C{k}", ms=10)
    shift = float(next(iter(runs.values())).shift_distance[index])
    ax.axhline(shift, color="k", ls="--", lw=0.8, label=r"$\|a' - a\|$")
    ax.set(xscale="log", yscale="log", xlabel=r"$m_g / \|O(a)\|$  (o start, * end)", ylabel=r"$m_i$")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, frameon=False)
    return _finish(fig, title, ax)


def plot_spiky_ball(preimages: Mapping[str, torch.Tensor], *, title: str | None = None) -> Figure:
    """Preimages of one circle in the embedding, one panel per depth (see ``linear.preimage_of_circle``).

    Every point on the solid curve is at the same distance from ``O(a)`` in the embedding;
    in the input they spread along a few directions, ever more unequally with depth. The
    dashed circle marks the inputs at that same distance from ``a``.
    """
    fig, axes = plt.subplots(1, len(preimages), figsize=(2.6 * len(preimages), 2.9), squeeze=False)
    for axis, (label, points) in zip(axes[0], preimages.items(), strict=True):
        points = points.numpy()
        axis.add_patch(plt.Circle((0, 0), 1.0, fill=False, ls="--", color="0.5", lw=0.8))
        axis.plot(points[:, 0], points[:, 1], "-", color="C0", lw=1)
        axis.plot([0], [0], "k+")
        reach = float(np.abs(points).max())
        axis.set(xlim=(-reach, reach), ylim=(-reach, reach), aspect="equal", title=label)
        axis.tick_params(labelsize=7)
    return _finish(fig, title)


def plot_neighbourhood(
    distances: torch.Tensor, markers: Mapping[str, float], *, xlabel: str, title: str | None = None
) -> Figure:
    """Histogram of distances on a log axis, with named reference values as vertical lines."""
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    values = distances.detach().cpu().double().clamp_min(1e-300).log10().numpy()
    ax.hist(values, bins=30, color="C0", alpha=0.8, label=f"{len(values)} samples")
    for k, (label, value) in enumerate(markers.items(), 1):
        ax.axvline(np.log10(value), color=f"C{k}", lw=2, label=label)
    ax.set(xlabel=xlabel, ylabel="count")
    ax.legend(fontsize=8, frameon=False)
    return _finish(fig, title, ax)


def show_filters(weights: Mapping[str, torch.Tensor], *, count: int = 64, title: str | None = None) -> Figure:
    """The first ``count`` filters of each convolution weight ``(O, I, k, k)`` as an 8-wide grid.

    RGB filters (``I == 3``) are shown in colour, others as their channel mean; each filter
    is min-max scaled on its own.
    """
    side = int(np.ceil(np.sqrt(count)))
    fig, axes = plt.subplots(1, len(weights), figsize=(3.2 * len(weights), 3.5), squeeze=False)
    for axis, (label, weight) in zip(axes[0], weights.items(), strict=True):
        w = weight.detach().float().cpu()[:count]
        w = w if w.shape[1] == 3 else w.mean(dim=1, keepdim=True).expand(-1, 3, -1, -1)
        low = w.amin(dim=(1, 2, 3), keepdim=True)
        high = w.amax(dim=(1, 2, 3), keepdim=True)
        w = (w - low) / (high - low).clamp_min(1e-12)
        k = w.shape[-1]
        grid = torch.ones(3, side * (k + 1) - 1, side * (k + 1) - 1)
        for i, f in enumerate(w):
            r, c = divmod(i, side)
            grid[:, r * (k + 1) : r * (k + 1) + k, c * (k + 1) : c * (k + 1) + k] = f
        axis.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
        axis.set_title(label, fontsize=9)
        axis.axis("off")
    return _finish(fig, title)


def show_image_grid(
    rows: Mapping[str, torch.Tensor],
    *,
    columns: Sequence[str] | None = None,
    captions: Mapping[str, Sequence[str]] | None = None,
    title: str | None = None,
    size: float = 1.3,
) -> Figure:
    """Images in a grid, one row per label: ``{label: (N, 3, H, W)}`` in ``[0, 1]``.

    Args:
        columns: a title over each column (e.g. layer names).
        captions: ``{label: [N strings]}`` under each image.
    """
    width = max(len(images) for images in rows.values())
    fig, axes = plt.subplots(
        len(rows), width, figsize=(size * width + 1, (size + 0.25) * len(rows)), squeeze=False
    )
    for r, (label, images) in enumerate(rows.items()):
        for c, axis in enumerate(axes[r]):
            axis.set_xticks([])
            axis.set_yticks([])
            if c >= len(images):
                axis.axis("off")
                continue
            axis.imshow(to_numpy_image(images[c]), interpolation="nearest")
            if captions is not None:
                axis.set_xlabel(captions[label][c], fontsize=7)
            if r == 0 and columns is not None:
                axis.set_title(columns[c], fontsize=9)
        axes[r][0].set_ylabel(label, fontsize=9)
    return _finish(fig, title)


def plot_heat(
    values: torch.Tensor,
    *,
    panels: Sequence[str],
    rows: Sequence[str],
    columns: Sequence[str],
    label: str,
    title: str | None = None,
) -> Figure:
    """One heat map per panel: ``values`` is ``(panels, rows, columns)`` in ``[0, 1]``, each
    cell printed with its value."""
    values = values.detach().float().cpu()
    fig, axes = plt.subplots(
        1, len(panels), figsize=(2.1 * len(panels) + 1, 0.4 * len(rows) + 1.6), squeeze=False
    )
    for axis, name, grid in zip(axes[0], panels, values, strict=True):
        image = axis.imshow(grid.numpy(), vmin=0, vmax=1, cmap="magma")
        for (i, j), v in np.ndenumerate(grid.numpy()):
            axis.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6, color="w" if v < 0.6 else "k")
        axis.set_xticks(range(len(columns)), columns, rotation=60, fontsize=7)
        axis.set_yticks(range(len(rows)), rows if axis is axes[0][0] else [""] * len(rows), fontsize=7)
        axis.set_title(name, fontsize=9)
    fig.colorbar(image, ax=list(axes[0]), label=label, shrink=0.8)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def plot_depth_profiles(
    rows: Mapping[str, tuple[Mapping[str, float], Results]],
    *,
    title: str | None = None,
) -> Figure:
    """Every family on one axis: ``m_i`` over the flat image's and ``m_g / m_r`` against relative depth.

    Args:
        rows: ``{label: (relative depth per layer, results per layer)}`` (see
            ``depthrep.zoo.layers.relative_depth``); lines join the means over batch members.

    The left panel divides ``m_i`` by the distance of the target's flat mean colour
    (:attr:`InversionResult.flat_ratio`), so targets of any texture share one scale; its dashed
    line at 1 is that flat image, no information. The right panel's dashed line is ``m_r``.
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for k, (label, (depth, results)) in enumerate(rows.items()):
        x = np.array([depth[name] for name in results])
        pixels = torch.stack([r.flat_ratio for r in results.values()])
        embedding = torch.stack([r.reference_ratio for r in results.values()])
        for axis, values in ((left, pixels), (right, embedding)):
            axis.plot(x, values.mean(1).numpy(), "-o", color=f"C{k}", label=label, ms=3)
    xlabel = "relative depth (0 = input, 1 = last stage)"
    left.set(xlabel=xlabel, ylabel=r"$m_i$ / flat mean colour's $m_i$", yscale="log")
    right.set(xlabel=xlabel, ylabel=r"$m_g / m_r$", yscale="log")
    left.axhline(1, color="k", lw=0.8, ls="--", label="flat mean colour")
    right.axhline(1, color="k", lw=0.8, ls="--")
    for axis in (left, right):
        axis.grid(alpha=0.3, which="both")
    left.legend(fontsize=8, frameon=False)
    return _finish(fig, title)


def plot_series(
    x,
    series: Mapping[str, torch.Tensor | np.ndarray],
    *,
    xlabel: str,
    ylabel: str,
    xticklabels: Sequence[str] | None = None,
    logx: bool = False,
    logy: bool = False,
    title: str | None = None,
    ax=None,
) -> Figure:
    """Lines of ``y`` against ``x``, one per label; a ``(len(x), S)`` series draws its mean
    as a line and each column (seed) as dots. ``xticklabels`` names each ``x`` (layers, say)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6)) if ax is None else (ax.figure, ax)
    for k, (label, y) in enumerate(series.items()):
        y = np.asarray(y.detach().cpu() if isinstance(y, torch.Tensor) else y, dtype=float)
        mean = y.mean(axis=1) if y.ndim == 2 else y
        ax.plot(x, mean, "-", color=f"C{k}", label=label)
        if y.ndim == 2:
            for column in y.T:
                ax.plot(x, column, "o", color=f"C{k}", ms=3, alpha=0.6)
    ax.set(
        xlabel=xlabel, ylabel=ylabel, xscale="log" if logx else "linear", yscale="log" if logy else "linear"
    )
    if xticklabels is not None:
        ax.set_xticks(list(x), list(xticklabels), fontsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    return _finish(fig, title, ax)


def _finish(fig: Figure, title: str | None, ax: Axes | None = None) -> Figure:
    """Every figure's ending: ``title`` over its one axis ``ax``, or over the whole figure, and a
    tight layout."""
    if title and ax is not None:
        ax.set_title(title, fontsize=10)
    elif title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def _rows(results) -> dict[str, Results]:
    first = next(iter(results.values()))
    if isinstance(first, InversionResult):
        return {"": results}
    return dict(results)
