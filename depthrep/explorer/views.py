"""What the explorer shows, as plain values: PNG bytes of its pictures and plots, the distance
table and the status lines. No widget here: :mod:`depthrep.explorer.widgets` puts these values into
its views.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import torch

from depthrep.core.results import Results
from depthrep.plot import VIEW_SIDE, figure_png, plot_history, png, show_reconstructions
from depthrep.zoo.models import model_device

if TYPE_CHECKING:
    from depthrep.core.jobs import Job
    from depthrep.explorer.session import Finished

DISTANCE_COLUMNS = {
    "m_i": "m<sub>i</sub>",
    "shift_distance": "‖a′−a‖",
    "relative_m_g": "m<sub>g</sub>/‖O(a)‖",
    "relative_m_r": "m<sub>r</sub>/‖O(a)‖",
    "m_g_over_m_r": "m<sub>g</sub>/m<sub>r</sub>",
    "psnr": "PSNR dB",
}
"""The explorer's table: :meth:`InversionResult.summary` keys and their headings."""


def row(images: list[torch.Tensor], gap: int = 2) -> torch.Tensor:
    """``(3, H, W)`` images side by side with white gaps: ``(3, H, n W + (n - 1) gap)``."""
    blank = torch.ones(3, images[0].shape[-2], gap)
    parts = [p for image in images for p in (image, blank)][:-1]
    return torch.cat(parts, dim=-1)


def reconstructions_png(job: Job, results: Results) -> bytes:
    """Each layer's first reconstruction side by side, at half the display size when several."""
    side = VIEW_SIDE if len(job.layers) == 1 else VIEW_SIDE // 2
    return png(row([r.image[0] for r in results.values()]), side)


def curves_png(results: Results) -> bytes:
    """``m_i`` and ``m_g`` over the run (:func:`depthrep.plot_history`), wide and low."""
    fig = plot_history(results)
    fig.set_size_inches(8, 2.8)
    fig.tight_layout()
    return figure_png(fig)


def grid_png(finished: Finished) -> bytes:
    """The target and every layer's reconstruction in one row (:func:`depthrep.show_reconstructions`)."""
    job = finished.job
    title = f"{job.model} ({job.weights} weights), {job.size} px, {job.steps} steps"
    return figure_png(show_reconstructions(finished.results, finished.target, title=title))


def distance_table(results: Results, index: int = 0) -> str:
    """HTML table of member ``index``'s final distances per layer, beside the shifted-input reference."""
    rows = []
    for name, r in results.items():
        numbers = r.summary(index)
        cells = ("n/a" if numbers[c] is None else f"{numbers[c]:.3g}" for c in DISTANCE_COLUMNS)
        rows.append(f"<tr><td>{html.escape(name)}</td>" + "".join(f"<td>{v}</td>" for v in cells) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("layer", *DISTANCE_COLUMNS.values()))
    return (
        f'<table class="depthrep-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
        "<small>a′: the target plus faint noise. Where m<sub>g</sub> &lt; m<sub>r</sub> the layer "
        "holds the reconstruction closer to the target than a′, however far apart they are in "
        "pixels (m<sub>i</sub> against ‖a′−a‖).</small>"
    )


def record_line(job: Job, step: int, results: Results) -> str:
    """The status line while a run goes on (HTML)."""
    worst = max(float(r.relative_embedding_distance[0]) for r in results.values())
    largest = f"largest m<sub>g</sub>/‖O(a)‖ {worst:.3g}"
    return f"Step {step} of {job.steps}: {largest}. Press Stop to end the run here."


def end_line(finished: Finished) -> str:
    """The status line when a run has ended: its steps, time and device, and any divergence (HTML)."""
    job, results = finished.job, finished.results
    steps = next(iter(results.values())).steps
    how = f"{steps} steps" if steps == job.steps else f"Stopped at step {steps} of {job.steps}"
    diverged = [f"{name} (step {int(r.diverged_at[0])})" for name, r in results.items() if r.diverged[0]]
    warning = (
        f" <b>Diverged</b> at {', '.join(diverged)}: those images are frozen where it happened; "
        "try the adam optimiser or fewer steps."
        if diverged
        else ""
    )
    device = model_device(finished.model)
    return f"{how} in {finished.seconds:.1f} s on {device}, {job.method} optimiser.{warning}"
