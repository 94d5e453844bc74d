"""Figures: reconstruction grids labelled with the paper's distances, curves and bars.

Every function takes results (``{layer: InversionResult}``) and returns a matplotlib
``Figure``; none calls ``plt.show()``.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from .invert import InversionResult

Results = Mapping[str, InversionResult]


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
    """``m_i`` and ``m_g`` (with ``m_r``), as relative embedding distances."""
    m_i = float(result.input_distance[index])
    m_g = float(result.relative_embedding_distance[index])
    m_r = float(result.reference_distance[index] / result.target_norm[index])
    return f"$m_i$ {m_i:.3g}\n$m_g$ {m_g:.3f}|y| ($m_r$ {m_r:.3f})"


def show_reconstructions(
    results: Results | Mapping[str, Results],
    target: torch.Tensor | None = None,
    *,
    index: int = 0,
    title: str | None = None,
    size: float = 1.9,
) -> Figure:
    """A grid: the target, then the reconstruction from each layer, labelled with distances.

    Args:
        results: ``{layer: InversionResult}`` for one row, or ``{row label: {layer: ...}}``
            for several (models, weights, images).
        target: ``(B, 3, H, W)``: shown in the first column when given.
        index: which image of the batch to show.
    """
    rows = _rows(results)
    columns = max(len(r) for r in rows.values()) + (target is not None)
    fig, axes = plt.subplots(
        len(rows), columns, figsize=(size * columns, (size + 0.55) * len(rows)), squeeze=False
    )
    for axis in axes.flat:
        axis.axis("off")
    for row, (label, row_results) in enumerate(rows.items()):
        offset = 0
        if target is not None:
            axes[row, 0].imshow(to_numpy_image(target[index]))
            axes[row, 0].set_title("target $a$", fontsize=9)
            offset = 1
        for col, (layer, result) in enumerate(row_results.items(), offset):
            axes[row, col].imshow(to_numpy_image(result.image[index]))
            axes[row, col].set_title(layer, fontsize=9)
            axes[row, col].text(
                0.5, -0.04, caption(result, index), transform=axes[row, col].transAxes,
                ha="center", va="top", fontsize=7.5,
            )  # fmt: skip
        if label:
            axes[row, 0].text(
                -0.08, 0.5, label, transform=axes[row, 0].transAxes, rotation=90,
                ha="right", va="center", fontsize=9,
            )  # fmt: skip
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


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
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


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
    m_r = [float(r.reference_distance[index] / r.target_norm[index]) for r in results.values()]
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
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def _rows(results) -> dict[str, Results]:
    first = next(iter(results.values()))
    if isinstance(first, InversionResult):
        return {"": results}
    return dict(results)
