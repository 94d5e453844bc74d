"""The paper's studies on top of the engine: the same inversion over seeds and starts, local
gains, exact algebra of linear nets, spectra, the training worlds, models trained here, and the
world judge.
"""

from depthrep.studies.experiments import Neighbourhood, invert_fc, neighbourhood_experiment
from depthrep.studies.gains import Gains, LayerSize, gains_over_seeds, layer_sizes, local_gains
from depthrep.studies.judge import WorldPull, judge_accuracy, judged, measure_pull, world_targets
from depthrep.studies.linear import condition_numbers, null_space_distance, preimage_of_circle, random_maps
from depthrep.studies.manifold import excess_kurtosis, filter_roughness, phase_randomise, spectral_slope
from depthrep.studies.train import trained_models, world_judge, world_models
from depthrep.studies.worlds import HELD_OUT, UNTRAINED, WORLDS
from depthrep.studies.worlds import draw as draw_world

# invert_over_seeds and invert_over_starts are in the front door (``depthrep``).
__all__ = [
    "HELD_OUT",
    "UNTRAINED",
    "WORLDS",
    "Gains",
    "LayerSize",
    "Neighbourhood",
    "WorldPull",
    "condition_numbers",
    "draw_world",
    "excess_kurtosis",
    "filter_roughness",
    "gains_over_seeds",
    "invert_fc",
    "judge_accuracy",
    "judged",
    "layer_sizes",
    "local_gains",
    "measure_pull",
    "neighbourhood_experiment",
    "null_space_distance",
    "phase_randomise",
    "preimage_of_circle",
    "random_maps",
    "spectral_slope",
    "trained_models",
    "world_judge",
    "world_models",
    "world_targets",
]
