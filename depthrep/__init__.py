"""depthrep: how much of an image does each layer of a vision model keep?

Executable companion to B. L. Badger, *Depth and Representation in Vision Models*
(arXiv:2211.06496). The names here are the common ones; the rest is public behind the
namespace of its wing: :mod:`depthrep.zoo` (class scores, input scaling),
:mod:`depthrep.core` (the encoder), :mod:`depthrep.studies` (the paper's studies),
:mod:`depthrep.plot` (every figure), :mod:`depthrep.explorer` (widgets and the layer grid),
:mod:`depthrep.book` (the chapters' banner and claim checks), :mod:`depthrep.profiles` (the
run sizes) and :mod:`depthrep.errors` (the error and warning types).

Reconstruct an input from one layer's embedding by gradient descent and measure what was lost::

    import depthrep
    model = depthrep.load_model("resnet50")            # untrained, frozen, eval mode
    image = depthrep.load_image("grace_hopper", 128)   # (1, 3, 128, 128) in [0, 1]
    results = depthrep.invert(model, image, depthrep.layers(model), steps=200)
    depthrep.show_reconstructions(results, image)    # figure: one row, a column per layer
"""

from depthrep import book as book
from depthrep import core as core
from depthrep import errors as errors
from depthrep import explorer as explorer
from depthrep import plot as plot
from depthrep import profiles as profiles
from depthrep import studies as studies
from depthrep import zoo as zoo
from depthrep.core.distances import (
    colour_matched_distance,
    embedding_distance,
    flat_distance,
    input_distance,
    shifted_reference,
)
from depthrep.core.encoder import encoder_for
from depthrep.core.invert import invert
from depthrep.core.methods import METHODS, Method, get_method, start_image
from depthrep.core.results import (
    History,
    InversionResult,
    concat_results,
    fall_per_decade,
    response_over_budgets,
)
from depthrep.core.scores import psnr, ssim
from depthrep.core.stopping import Stop
from depthrep.errors import DepthrepError
from depthrep.plot import (
    plot_depth_profiles,
    plot_distances,
    plot_history,
    show_image_grid,
    show_reconstructions,
)
from depthrep.studies.experiments import invert_over_seeds, invert_over_starts
from depthrep.zoo.images import load_image, load_images, samples
from depthrep.zoo.layers import layers, node_names, relative_depth
from depthrep.zoo.models import load_model, model_names

__all__ = [
    "METHODS",
    "DepthrepError",
    "History",
    "InversionResult",
    "Method",
    "Stop",
    "colour_matched_distance",
    "concat_results",
    "embed",
    "embedding_distance",
    "explore",
    "fall_per_decade",
    "flat_distance",
    "get_method",
    "input_distance",
    "invert",
    "invert_over_seeds",
    "invert_over_starts",
    "layer_picker",
    "layers",
    "load_image",
    "load_images",
    "load_model",
    "model_names",
    "node_names",
    "plot_depth_profiles",
    "plot_distances",
    "plot_history",
    "psnr",
    "relative_depth",
    "response_over_budgets",
    "samples",
    "shifted_reference",
    "show_image_grid",
    "show_reconstructions",
    "ssim",
    "start_image",
]
NAMESPACES = ("book", "core", "errors", "explorer", "plot", "profiles", "studies", "zoo")
"""The wings whose public names are reached as ``depthrep.<wing>.<name>``."""


def __getattr__(name: str):
    if name in ("explore", "layer_picker"):  # they import ipywidgets: only when asked for
        return getattr(explorer, name)
    raise AttributeError(f"module 'depthrep' has no attribute {name!r}")


def embed(model, image, layers, *, normalize: bool = False):
    """``{layer: O_l(image)}`` for ``image: (B, 3, H, W)`` in ``[0, 1]``, without gradients."""
    import torch

    from depthrep.zoo.models import model_device

    with torch.no_grad():
        return encoder_for(model, layers, normalize=normalize)(image.to(model_device(model)))
