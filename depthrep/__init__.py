"""depthrep: how much of an image does each layer of a vision model keep?

Executable companion to B. L. Badger, *Depth and Representation in Vision Models*
(arXiv:2211.06496). Reconstruct an input from one layer's embedding by gradient descent
and measure what was lost::

    import depthrep
    model = depthrep.load_model("resnet50")            # untrained, frozen, eval mode
    image = depthrep.load_image("grace_hopper", 128)   # (1, 3, 128, 128) in [0, 1]
    results = depthrep.invert(model, image, depthrep.layers(model), steps=200)
    depthrep.show_reconstructions(results, image)    # figure: one row, a column per layer
"""

from depthrep.book.report import Claim, ClaimFailed, Run, check, claim, converged, start, table
from depthrep.core.distances import (
    colour_matched_distance,
    embedding_distance,
    flat_distance,
    input_distance,
    shifted_reference,
)
from depthrep.core.divergence import DivergenceError, DivergenceWarning
from depthrep.core.encoder import Encoder, encoder_for
from depthrep.core.invert import EmbeddingError, ZeroEmbeddingWarning, invert
from depthrep.core.labels import LabelError
from depthrep.core.methods import METHODS, Method, MethodError, get_method, start_image
from depthrep.core.results import (
    History,
    InversionResult,
    concat_results,
    fall_per_decade,
    response_over_budgets,
)
from depthrep.core.scores import psnr, ssim
from depthrep.core.stopping import Stop
from depthrep.explorer.grid import LayerGrid, layer_grid
from depthrep.studies.experiments import (
    Neighbourhood,
    invert_fc,
    invert_over_seeds,
    invert_over_starts,
    neighbourhood_experiment,
)
from depthrep.studies.gains import Gains, LayerSize, gains_over_seeds, layer_sizes, local_gains
from depthrep.studies.judge import WorldPull, judge_accuracy, judged, measure_pull, world_targets
from depthrep.studies.linear import condition_numbers, null_space_distance, preimage_of_circle, random_maps
from depthrep.studies.manifold import excess_kurtosis, filter_roughness, phase_randomise, spectral_slope
from depthrep.studies.train import trained_models, world_judge, world_models
from depthrep.studies.worlds import HELD_OUT, UNTRAINED, WORLDS
from depthrep.studies.worlds import draw as draw_world
from depthrep.zoo.classify import classify, top_agreement, top_classes
from depthrep.zoo.images import ImageError, load_image, load_images, samples
from depthrep.zoo.layers import UnknownLayerError, layers, node_names, relative_depth
from depthrep.zoo.models import (
    ImageSizeError,
    UnknownModelError,
    WeightsUnavailable,
    fc_name,
    input_scaling,
    load_model,
    min_image_size,
    model_device,
    model_names,
)

from .errors import DepthrepError
from .plot import (
    plot_depth_profiles,
    plot_distances,
    plot_gains,
    plot_heat,
    plot_history,
    plot_neighbourhood,
    plot_ratios,
    plot_series,
    plot_spiky_ball,
    plot_tradeoff,
    show_filters,
    show_image_grid,
    show_reconstructions,
)
from .profiles import PROFILES, Profile, get_profile

__all__ = [
    "HELD_OUT",
    "METHODS",
    "PROFILES",
    "UNTRAINED",
    "WORLDS",
    "Claim",
    "ClaimFailed",
    "DepthrepError",
    "DivergenceError",
    "DivergenceWarning",
    "EmbeddingError",
    "Encoder",
    "Gains",
    "History",
    "ImageError",
    "ImageSizeError",
    "InversionResult",
    "LabelError",
    "LayerGrid",
    "LayerPicker",
    "LayerSize",
    "Method",
    "MethodError",
    "Neighbourhood",
    "Profile",
    "Run",
    "Stop",
    "UnknownLayerError",
    "UnknownModelError",
    "WeightsUnavailable",
    "WorldPull",
    "ZeroEmbeddingWarning",
    "check",
    "claim",
    "classify",
    "colour_matched_distance",
    "concat_results",
    "condition_numbers",
    "converged",
    "draw_world",
    "embed",
    "embedding_distance",
    "excess_kurtosis",
    "explore",
    "fall_per_decade",
    "fc_name",
    "filter_roughness",
    "flat_distance",
    "gains_over_seeds",
    "get_method",
    "get_profile",
    "input_distance",
    "input_scaling",
    "invert",
    "invert_fc",
    "invert_over_seeds",
    "invert_over_starts",
    "judge_accuracy",
    "judged",
    "layer_grid",
    "layer_picker",
    "layer_sizes",
    "layers",
    "load_image",
    "load_images",
    "load_model",
    "local_gains",
    "measure_pull",
    "min_image_size",
    "model_device",
    "model_names",
    "neighbourhood_experiment",
    "node_names",
    "null_space_distance",
    "phase_randomise",
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
    "preimage_of_circle",
    "psnr",
    "random_maps",
    "relative_depth",
    "response_over_budgets",
    "samples",
    "shifted_reference",
    "show_filters",
    "show_image_grid",
    "show_reconstructions",
    "spectral_slope",
    "ssim",
    "start",
    "start_image",
    "table",
    "top_agreement",
    "top_classes",
    "trained_models",
    "world_judge",
    "world_models",
    "world_targets",
]


# The widgets import ipywidgets: only when asked for, so the CLI and scripts stay light.
_WIDGETS = {
    "explore": "widgets",
    "LayerPicker": "picker",
    "layer_picker": "picker",
}


def __getattr__(name: str):
    if name in _WIDGETS:
        import importlib

        return getattr(importlib.import_module(f"depthrep.explorer.{_WIDGETS[name]}"), name)
    raise AttributeError(f"module 'depthrep' has no attribute {name!r}")


def embed(model, image, layers, *, normalize: bool = False):
    """``{layer: O_l(image)}`` for ``image: (B, 3, H, W)`` in ``[0, 1]``, without gradients."""
    import torch

    from depthrep.zoo.models import model_device

    with torch.no_grad():
        return encoder_for(model, layers, normalize=normalize)(image.to(model_device(model)))
