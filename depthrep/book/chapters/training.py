"""Chapter 08, *Training*: EfficientNet-Lite0 with its ImageNet weights against its untrained twin.

``runs`` is ``{"trained": {stage: InversionResult}, "untrained": {...}}``: both models inverted
from the same starts, targets and stages (:func:`~depthrep.invert_over_starts`), and a
per-member measure comes as ``{label: {stage: (B,) tensor}}`` alike. Comparisons between the
two models are made per target, on the mean over starts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from depthrep.book.report import Claim, claim, converged
from depthrep.core.results import InversionResult

Runs = Mapping[str, Mapping[str, InversionResult]]
Measure = Mapping[str, Mapping[str, torch.Tensor]]


def _per_target(runs: Runs, measure: Measure, layer: str) -> dict[str, torch.Tensor]:
    return {label: res[layer].mean_per("target", measure[label][layer]) for label, res in runs.items()}


def _twins_converged(runs: Runs, layers: Sequence[str]) -> list[torch.Tensor]:
    return [converged(runs["trained"][n], runs["untrained"][n]) for n in layers]


def _closer_to_the_target(
    runs: Runs, measure: Measure, stages: Sequence[str], *, what: str, lower: bool
) -> Claim:
    """Per target, ``measure`` after training against the untrained twin at each of ``stages``:
    lower (``lower``) or higher, every run converged."""
    per_target = {n: _per_target(runs, measure, n) for n in stages}
    trained, twin = ("trained", "untrained") if lower else ("untrained", "trained")
    return claim(
        f"{', '.join(stages)}: per target, {what} after training",
        [per_target[n][trained] < per_target[n][twin] for n in stages],
        converged=_twins_converged(runs, stages),
        baseline="the untrained twin, same stage, target and starts",
        margin="1x (direction)",
        **{f"{n} {label}": per_target[n][label] for n in stages for label in runs},
    )


def early_stages_closer_after_training(runs: Runs, matched: Measure, stages: Sequence[str]) -> Claim:
    """The paper: training sharpens early-layer reconstructions. Per target, the mean-colour
    matched ``m_i`` (:func:`~depthrep.colour_matched_distance`) is lower after training at
    each of the ``stages``."""
    return _closer_to_the_target(
        runs, matched, stages, what="the mean-colour-matched m_i is lower", lower=True
    )


def early_stages_more_similar_after_training(runs: Runs, similarity: Measure, stages: Sequence[str]) -> Claim:
    """The same finding by structural similarity (:func:`~depthrep.ssim`): per target, the
    mean SSIM is higher after training at each of the ``stages``."""
    return _closer_to_the_target(runs, similarity, stages, what="the mean SSIM is higher", lower=False)


def more_mismatch_left_after_training(unblurred: Runs) -> Claim:
    """Checked as a departure: without blur, per target, the trained model is left with MORE of
    its initial embedding mismatch (``m_g(end) / m_g(0)``) than the twin, at every stage."""
    layers = list(unblurred["trained"])
    left = {
        label: {n: r.mean_per("target", r.history.embedding_left()) for n, r in res.items()}
        for label, res in unblurred.items()
    }
    return claim(
        "per target, MORE of the initial mismatch is left after training than for the twin, at every stage",
        [left["trained"][n] > left["untrained"][n] for n in layers],
        departs=True,
        baseline="m_g(end) / m_g(0) of the untrained twin, same stage, target and starts",
        margin="1x (direction)",
        **{f"{n} trained/untrained": left["trained"][n] / left["untrained"][n] for n in layers},
    )


def trained_deep_stages_lose_the_target(
    trained: Mapping[str, InversionResult], stages: Sequence[str], early: str = "stage1"
) -> Claim:
    """Depth still loses the input after training: ``m_i / ||a' - a||`` at each of ``stages``
    is at least 3 times that at ``early``, every run converged."""
    return claim(
        f"trained: m_i / ||a' - a|| at {' and at '.join(stages)} >= 3x that at {early}",
        [trained[n].shift_ratio >= 3 * trained[early].shift_ratio for n in stages],
        converged=[converged(trained[n], trained[early]) for n in stages],
        baseline=f"m_i / ||a' - a|| at {early}, same member",
        margin="3x",
        **{f"{n}": trained[n].shift_ratio for n in (early, *stages)},
    )


def longer_run_does_not_bring_it_back(run: InversionResult) -> Claim:
    """A longer run at the deepest stage: over its second half ``m_i`` follows ``m_g`` less
    than half-proportionally (``d log m_i / d log m_g < 0.5``) and ends more than 3
    ``||a' - a||`` from the target."""
    slope = run.history.input_response()
    return claim(
        f"trained {run.layer}: d log m_i / d log m_g < 0.5 over the 2nd half, and m_i ends > 3 ||a' - a||",
        (slope < 0.5) & (run.shift_ratio > 3),
        converged=converged(run),
        baseline="m_i and m_g at the run's midpoint; ||a' - a|| of the same target",
        margin="slope 0.5; 3x",
        slope=slope,
        m_g_fall=run.history.embedding_fall(),
        m_i_over_shift=run.shift_ratio,
        m_g_over_m_r=run.reference_ratio,
    )


def deep_reconstructions_keep_the_class(runs: Runs, keeps: Measure, stages: Sequence[str]) -> Claim:
    """Deep stages of the trained model keep what it was trained for: more of its
    reconstructions keep the target's class (top 1 in their top 5, judged by the trained
    model) than the twin's, while every one of them is far from the target in pixels.

    Args:
        keeps: ``{label: {stage: (B,) bool}}``, whether each reconstruction keeps its class
            (:func:`~depthrep.zoo.top_agreement`).
    """
    trained = runs["trained"]
    return claim(
        f"{', '.join(stages)}: more trained reconstructions keep the target's class (top 1 in their "
        "top 5) than the twin's, while every trained one is > 3 ||a' - a|| from the target",
        [
            (keeps["trained"][n].sum() > keeps["untrained"][n].sum()) & (trained[n].shift_ratio > 3).all()
            for n in stages
        ],
        converged=_twins_converged(runs, stages),
        baseline="the twin's reconstructions, judged by the same trained model",
        margin="1 more member",
        **{f"{n} {label} keep": keeps[label][n].float() for n in stages for label in runs},
    )


def twin_error_is_gaussian(runs: Runs, kurtosis: Measure, layer: str = "stage7") -> Claim:
    """At the deepest stage the twin's error ``a_g - a`` is Gaussian-like (``|excess
    kurtosis| < 1`` per member), and per target the trained model's is larger: its error has
    structure."""
    trained, twin = runs["trained"][layer], runs["untrained"][layer]
    return claim(
        f"twin {layer}: |excess kurtosis of a_g - a| < 1 per member; per target the trained "
        "model's is larger",
        [
            kurtosis["untrained"][layer].abs() < 1,
            trained.mean_per("target", kurtosis["trained"][layer].abs())
            > twin.mean_per("target", kurtosis["untrained"][layer].abs()),
        ],
        converged=converged(trained, twin),
        baseline="0 (Gaussian); the twin's, same target and starts",
        margin="1; 1x (direction)",
        twin=kurtosis["untrained"][layer],
        trained=kurtosis["trained"][layer],
    )


def deep_stages_pull_to_steeper_spectra(
    pulled: Runs, slopes: Measure, stages: Sequence[str], contrast: str = "stem"
) -> Claim:
    """Deep stages pull any input toward natural images: the trained model's reconstruction of
    an input that is no photograph has a spectral slope at least 0.5 steeper than the twin's,
    per input and start, at each of ``stages``, and not at ``contrast``.

    Args:
        pulled: both models' runs on the inputs that are no photographs.
        slopes: ``{label: {stage: (B,) log-log spectral slope}}``
            (:func:`~depthrep.studies.spectral_slope`), for ``stages`` and ``contrast``.
    """
    steeper = {n: slopes["trained"][n] <= slopes["untrained"][n] - 0.5 for n in slopes["trained"]}
    return claim(
        f"{', '.join(stages)}: the trained reconstruction's spectral slope <= the twin's - 0.5, "
        "per input and start",
        [steeper[n] for n in stages],
        converged=_twins_converged(pulled, stages),
        contrast=contrast,
        contrast_test=steeper[contrast],
        baseline="the twin's reconstruction of the same input from the same start",
        margin="0.5 in log-log slope",
        **{f"{n} {label}": slopes[label][n] for n in slopes["trained"] for label in pulled},
    )
