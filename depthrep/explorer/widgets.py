"""An explorer for notebooks: pick a model, its weights, a layer and an image, and watch the
input come back from that layer's embedding.

    import depthrep.explorer.widgets
    depthrep.explorer.widgets.explore(model="resnet50", size=128)

The inversion runs in a background thread (:class:`depthrep.explorer.session.Session`), so the
notebook stays responsive: the reconstruction and the ``m_i`` / ``m_g`` curves are redrawn
(:mod:`depthrep.explorer.views`) as :func:`depthrep.invert` records them, and the Run button turns
into Stop, which ends the run at the next record. "All layers" inverts every layer of the
model in one batched run and shows the grid. Mistakes (an unreadable upload, weights that
are not here) are reported in the widget's message line, never as a traceback.

This module holds the controls and their wiring only: the run is the session's, the
pictures and lines it shows are the views'.
"""

from __future__ import annotations

import html
import io
import time
from collections.abc import Mapping

import ipywidgets as W
import torch
from PIL import Image, UnidentifiedImageError

from depthrep import plot
from depthrep.core.jobs import Job
from depthrep.core.methods import METHODS, Method
from depthrep.core.results import InversionResult
from depthrep.errors import ImageError
from depthrep.explorer import views
from depthrep.explorer.session import Finished, Refused, Session, ViewFailed
from depthrep.zoo.images import load_image, samples
from depthrep.zoo.layers import layers
from depthrep.zoo.models import available_weights, model_names

CURVES_EVERY_S = 2.0
"""Seconds between redraws of the curves while a run goes on (drawing them takes ~0.1 s)."""
UPLOAD = "upload: "
"""Prefix of an uploaded image's entry in the image list."""


class Explorer:
    """Controls, views and the run behind them. Every widget is an attribute, so code (and
    tests) can drive it: ``explorer.model.value = "resnet50"``, ``explorer.run_button.click()``.

    Args:
        model, weights, layer, image, size, steps, method: the controls' starting values;
            ``layer=None`` picks the model's middle layer.
        methods: more updates for the optimiser list, by name, beside the presets of
            :data:`depthrep.METHODS` (``{"fast": depthrep.get_method("adam", lr=(0.3, 0.01))}``).
        compare: start in "all layers" mode.
        seed: seeds the model's random weights, the starting noise and the shifted input.
        device: where models run; ``None``: CUDA when available, else the CPU.
        threaded: run in a background thread (``False``: the Run button blocks until the
            run ends, which tests and executed notebooks want).
    """

    def __init__(
        self,
        model: str = "resnet18",
        weights: str = "random",
        layer: str | None = None,
        image: str = "grace_hopper",
        size: int = 64,
        steps: int = 200,
        method: str = "adam",
        *,
        compare: bool = False,
        methods: Mapping[str, Method] | None = None,
        seed: int = 0,
        device: str | torch.device | None = None,
        threaded: bool = True,
    ):
        self.seed = seed
        self.methods = {**METHODS, **(methods or {})}
        """The optimiser list's updates by name: the presets, then ``methods``."""
        self.session = Session(device, threaded=threaded)
        """Runs the jobs (:class:`depthrep.explorer.session.Session`): drive it directly from code."""
        self.target: torch.Tensor | None = None
        self._uploads: dict[str, Image.Image] = {}
        self._reasons: dict[str, str | None] = {}
        self._curves_at = 0.0

        wide = {"description_width": "initial"}
        self.model = W.Dropdown(options=model_names(), value=model, description="model", style=wide)
        self.weights = W.Dropdown(description="weights", style=wide)
        self.layer = W.Dropdown(description="layer", style=wide)
        self.compare = W.Checkbox(value=compare, description="all layers (one batched run)", indent=False)
        self.image = W.Dropdown(options=samples(), value=image, description="image", style=wide)
        self.upload = W.FileUpload(accept="image/*", multiple=False, description="upload")
        self.size = W.IntSlider(size, min=16, max=512, description="size (px)", continuous_update=False)
        self.steps = W.BoundedIntText(steps, min=1, max=100_000, description="steps", style=wide)
        self.method = W.Dropdown(options=list(self.methods), value=method, description="optimiser",
                                 style=wide)  # fmt: skip
        self.run_button = W.Button(description="Run", button_style="success", icon="play")
        self.message = W.HTML()
        blank = plot.png(torch.full((3, 8, 8), 0.94))
        self.target_view = W.Image(value=blank, format="png")
        self.reconstruction_view = W.Image(value=blank, format="png")
        self.curves_view = W.Image(value=blank, format="png", layout=W.Layout(max_width="100%"))
        self.grid_view = W.Image(value=blank, format="png", layout=W.Layout(max_width="100%", display="none"))
        self.distances = W.HTML()

        self._refill(model, weights, layer)
        self._load_target()
        self._controls = (self.model, self.weights, self.layer, self.compare, self.image, self.upload,
                          self.size, self.steps, self.method)  # fmt: skip
        self.model.observe(self._guarded(lambda _: self._refill(self.model.value)), "value")
        self.weights.observe(lambda _: self._explain_weights(), "value")
        self.compare.observe(lambda _: self._sync_layer(), "value")
        for control in (self.image, self.size):
            control.observe(self._guarded(lambda _: self._load_target()), "value")
        self.upload.observe(self._guarded(self._on_upload), "value")
        self.run_button.on_click(self._guarded(self._on_button))
        self._sync_layer()

        column = W.Layout(align_items="flex-start")  # images at their own size, not stretched
        wrap = W.Layout(flex_flow="row wrap", align_items="flex-start", grid_gap="4px 16px")

        def titled(title, view):
            return W.VBox([W.HTML(f"<b>{title}</b>"), view], layout=column)

        self.widget = W.VBox(
            [
                W.HBox([self.model, self.weights, self.layer, self.compare], layout=wrap),
                W.HBox([self.image, self.upload, self.size, self.steps, self.method, self.run_button],
                       layout=wrap),
                self.message,
                W.HBox([titled("target a", self.target_view),
                        titled("reconstruction", self.reconstruction_view)], layout=wrap),
                W.HBox([titled("distances at the end", self.distances),
                        titled("over the run", self.curves_view)], layout=wrap),
                self.grid_view,
            ],
            layout=column,
        )  # fmt: skip

    # -- running ------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.session.running

    @property
    def results(self) -> dict[str, InversionResult] | None:
        """The last run's results (while running: the last record)."""
        return self.session.results

    def run(self, wait: bool = False) -> dict[str, InversionResult] | None:
        """Start a run with the current settings, as the Run button does.

        Returns the results when the run happens in this thread (``wait=True`` or
        ``threaded=False``), else ``None`` at once (see :meth:`wait`). A refused or failed
        run returns ``None`` and says why in :attr:`message`.
        """
        if self.running:
            return None
        try:
            job = self._job()
        except Refused as err:
            self._error(str(err))
            return None
        self._set_running(True)
        self._curves_at = 0.0
        return self.session.start(
            job, self.target, on_load=self._on_load, on_record=self._on_record, on_end=self._on_end,
            on_error=self._on_error, wait=wait,
        )  # fmt: skip

    def stop(self) -> None:
        """End the running inversion at its next record; its results so far are kept."""
        self.session.stop()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a threaded run ends; ``False`` if it is still running after ``timeout`` s."""
        return self.session.wait(timeout)

    def _on_button(self, _button) -> None:
        if self.running:
            self.stop()
        else:
            self.run()

    def _job(self) -> Job:
        name, weights = self.model.value, self.weights.value
        if self._reasons.get(weights):
            raise Refused(
                f"{weights} weights for {name} are unavailable: {self._reasons[weights]}. Pick other weights."
            )
        chosen = tuple(self.layer.options) if self.compare.value else (self.layer.value,)
        if not chosen or None in chosen:
            raise Refused(f"No layer to invert for {name}: pick another model.")
        if self.target is None:
            raise Refused("No target image: pick a sample or upload a PNG or JPEG file.")
        chosen_method = self.methods[self.method.value]  # a preset goes by its name, in the job's id
        method = self.method.value if chosen_method is METHODS.get(self.method.value) else chosen_method
        return Job(name, weights, chosen, self.image.value, self.size.value, self.seed, method,
                   self.steps.value)  # fmt: skip

    def _on_load(self, job: Job) -> None:
        self._say(f"Loading {job.model} ({job.weights} weights) ...")

    def _on_record(self, job: Job, step: int, results: dict[str, InversionResult]) -> None:
        self.reconstruction_view.value = views.reconstructions_png(job, results)
        if time.perf_counter() - self._curves_at > CURVES_EVERY_S:
            self.curves_view.value = views.curves_png(results)
            self._curves_at = time.perf_counter()
        self._say(views.record_line(job, step, results))

    def _on_end(self, finished: Finished) -> None:
        job, results = finished.job, finished.results
        self.reconstruction_view.value = views.reconstructions_png(job, results)
        self.curves_view.value = views.curves_png(results)
        self.distances.value = views.distance_table(results)
        if len(results) > 1:
            self.grid_view.value = views.grid_png(finished)
        self.grid_view.layout.display = None if len(results) > 1 else "none"
        self._say(views.end_line(finished))
        self._set_running(False)

    def _on_error(self, err: Exception) -> None:
        if isinstance(err, ViewFailed):  # the inversion was fine; its pictures were not
            self._error(f"The run's pictures could not be drawn ({err}); its results are in .results.")
        else:
            self._error(f"The run failed: {type(err).__name__}: {err}")
        self._set_running(False)

    def _set_running(self, running: bool) -> None:
        for control in self._controls:
            control.disabled = running
        self.layer.disabled = running or self.compare.value
        self.run_button.description = "Stop" if running else "Run"
        self.run_button.button_style = "danger" if running else "success"
        self.run_button.icon = "stop" if running else "play"

    # -- controls -----------------------------------------------------------------------

    def _refill(self, name: str, weights: str | None = None, layer: str | None = None) -> None:
        """Fill the weights and layer lists for model ``name``, keeping choices that still apply."""
        self._reasons = available_weights(name)
        keep = weights or self.weights.value or "random"
        # the label says why in short, never naming a path (a published page shows it); the note
        # under the controls gives the whole reason once the weights are picked
        self.weights.options = [
            (k if why is None else f"{k} ({why.split(':')[0]})", k) for k, why in self._reasons.items()
        ]
        self.weights.value = keep if keep in self._reasons else "random"
        previous = layer or self.layer.value
        try:
            names = layers(name)
        except ValueError as err:  # a family without a default layer list
            self.layer.options = []
            self._error(str(err))
            return
        self.layer.options = names
        self.layer.value = previous if previous in names else names[len(names) // 2]
        self._explain_weights()

    def _explain_weights(self) -> None:
        name, weights = self.model.value, self.weights.value
        if self._reasons.get(weights):
            self._say(f"{weights} weights for {name} are unavailable: {html.escape(self._reasons[weights])}.")
        else:
            self._say(f"{name} with {weights} weights, {len(self.layer.options)} layers. Press Run.")

    def _sync_layer(self) -> None:
        self.layer.disabled = self.compare.value or self.running

    def _load_target(self) -> None:
        source = self._uploads.get(self.image.value, self.image.value)
        self.target = None
        self.target = load_image(source, self.size.value)
        self.target_view.value = plot.png(self.target[0])

    def _on_upload(self, change) -> None:
        if not change["new"]:
            return
        file = change["new"][-1]
        name = file["name"]
        try:
            with Image.open(io.BytesIO(bytes(file["content"]))) as im:
                im.load()
                picture = im.copy()
            load_image(picture, self.size.value)  # refuse what load_image cannot use, now
        except UnidentifiedImageError:
            raise ImageError(f"Cannot read the upload {name}: Pillow knows no such image format. "
                             "Upload a PNG or JPEG file.") from None  # fmt: skip
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:  # Pillow, load_image
            raise ImageError(f"Cannot use the upload {name} as an image ({err}). "
                             "Upload a PNG or JPEG file.") from None  # fmt: skip
        key = UPLOAD + name
        self._uploads[key] = picture
        self.image.options = [*samples(), *self._uploads]
        self.image.value = key
        self._load_target()
        self._say(f"Uploaded {html.escape(name)} ({picture.width}×{picture.height}). Press Run.")

    def _guarded(self, handler):
        """``handler`` with the library's errors shown in the message line instead of raised."""

        def guarded(arg):
            try:
                handler(arg)
            except (ValueError, RuntimeError) as err:  # ImageError, UnknownModelError, ...
                self._error(str(err))

        return guarded

    def _say(self, text: str) -> None:
        self.message.value = f"<span>{text}</span>"

    def _error(self, text: str) -> None:
        self.message.value = f'<span style="color:#b00020"><b>{html.escape(text)}</b></span>'

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def explore(**defaults) -> Explorer:
    """An :class:`Explorer` with these starting values; show it by making it a cell's last line.

    >>> explorer = explore(model="resnet50", weights="random", size=128, steps=300)  # doctest: +SKIP
    """
    return Explorer(**defaults)


__all__ = ["Explorer", "Refused", "explore"]
