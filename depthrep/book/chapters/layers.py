"""Chapter 02, *What each layer keeps*: trained and untrained models, layer by layer.

``runs`` are the :class:`~depthrep.explorer.LayerGrid`'s runs: each has ``model``,
``weights`` and ``results`` (``{layer: InversionResult}`` in order of depth).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from depthrep.book.report import Claim, claim, converged


def last_layer_farther(runs: Sequence, last: str, first: str = "conv1") -> Claim:
    """In every model of ``runs``, the reconstruction from the ``last`` layer is more than 3
    times farther from the target than the one from ``first`` (after max-pooling)."""
    return claim(
        f"m_i at {last} > 3 x m_i at {first}, every model and image",
        [r.results[last].input_distance > 3 * r.results[first].input_distance for r in runs],
        converged=[converged(r.results[last], r.results[first]) for r in runs],
        baseline=f"m_i at {first} (after max-pooling), same model and image",
        margin="3x",
        **{
            f"{r.model} {r.weights}": r.results[last].input_distance / r.results[first].input_distance
            for r in runs
        },
    )


def untrained_get_below_reference(runs: Sequence) -> Claim:
    """In the untrained models every layer's inversion reaches ``m_g < m_r``: whatever they
    lose is not an unfinished optimisation. ``runs`` are untrained models only (the caller's
    choice: the statement says so)."""
    return claim(
        "untrained models: m_g < m_r at every layer, every image",
        [res.embedding_distance < res.reference_distance for r in runs for res in r.results.values()],
        baseline="m_r, the shifted copy a' of the same image",
        margin="1x",
        **{
            f"{r.model} largest m_g/m_r": torch.stack(
                [res.reference_ratio for res in r.results.values()]
            ).amax(0)
            for r in runs
        },
    )
