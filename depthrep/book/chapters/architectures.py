"""Chapter 12, *Architectures*: the depth profile across families of vision models.

``runs`` is ``{label: {layer: InversionResult}}``, each model's layers in order of depth.
Each claim names the families it compares and returns ``[]`` where the profile leaves one
of them out, so a chapter run on a few families checks what it can.
"""

from __future__ import annotations

from collections.abc import Mapping

from depthrep.book.claims import farther_with_depth, non_uniqueness
from depthrep.book.report import Claim, claim, converged
from depthrep.core.results import InversionResult

Runs = Mapping[str, Mapping[str, InversionResult]]


def _first(runs: Runs, label: str) -> InversionResult:
    return next(iter(runs[label].values()))


def _last(runs: Runs, label: str) -> InversionResult:
    return list(runs[label].values())[-1]


def farther_from_first_to_last(runs: Runs, labels, factor: float = 10) -> list[Claim]:
    """:func:`~depthrep.book.farther_with_depth` from each of ``labels``' first layer to its last."""
    return [
        farther_with_depth(_first(runs, lab), _last(runs, lab), factor, who=lab)
        for lab in labels
        if lab in runs
    ]


def non_unique_at_the_last_layer(runs: Runs, label: str, *, slack: float = 1.0) -> list[Claim]:
    """:func:`~depthrep.book.non_uniqueness` at ``label``'s last layer, its first as the contrast."""
    if label not in runs:
        return []
    return [non_uniqueness(_first(runs, label), _last(runs, label), slack=slack, who=label)]


def vgg_keeps_more_at_middle_depth(runs: Runs) -> list[Claim]:
    """VGG16, with no skip connections and wide layers, keeps more of the input at middle
    depth: ``m_i`` at its pool3 is below ResNet50's at conv3."""
    if not {"vgg16", "resnet50"} <= runs.keys():
        return []
    vgg, resnet = runs["vgg16"]["pool3"], runs["resnet50"]["conv3"]
    return [
        claim(
            "vgg16 keeps more at middle depth: m_i at pool3 < ResNet50's at conv3",
            vgg.input_distance < resnet.input_distance,
            converged=converged(vgg, resnet),
            baseline="ResNet50's m_i at conv3, same image and seed",
            margin="1x (direction; 0.8x failed at workstation)",
            vgg16_pool3=vgg.input_distance,
            resnet50_conv3=resnet.input_distance,
            ratio=vgg.input_distance / resnet.input_distance,
        )
    ]


def convnext_loses_at_the_stem(runs: Runs) -> list[Claim]:
    """Checked as a departure: ConvNeXt-Tiny's 4x4 patchify stem is far from the target
    already (``m_i`` above half the flat mean-colour image's while ``m_g < 0.3 m_r``), and its
    last stage is no worse (``m_i`` below 1.5x the stem's)."""
    if "convnext_tiny" not in runs:
        return []
    stem, top = _first(runs, "convnext_tiny"), _last(runs, "convnext_tiny")
    return [
        claim(
            "convnext_tiny: far from the target at the stem already (m_i > 0.5x the flat mean-colour "
            "image's, while m_g < 0.3 m_r), and no worse at the last stage (m_i < 1.5x the stem's)",
            (stem.flat_ratio > 0.5)
            & (stem.reference_ratio < 0.3)
            & (top.input_distance < 1.5 * stem.input_distance),
            converged=converged(stem, top),
            departs=True,
            baseline="the flat mean-colour image and m_r of the same target; m_i at the stem",
            margin="0.5x; 0.3x; 1.5x",
            m_i_over_flat_stem=stem.flat_ratio,
            m_g_over_m_r_stem=stem.reference_ratio,
            m_i_last_over_stem=top.input_distance / stem.input_distance,
            m_i_over_shift_stem=stem.shift_ratio,
        )
    ]


def efficientnet_b0_stays_above_reference(runs: Runs) -> list[Claim]:
    """Checked as a departure: at EfficientNet-B0's last stage the optimisation stays above
    the reference (``m_g > 2 m_r``), so the non-uniqueness inequality cannot be read there."""
    if "efficientnet_b0" not in runs:
        return []
    r = _last(runs, "efficientnet_b0")
    return [
        claim(
            "efficientnet_b0 last stage: the optimisation stays above the reference (m_g > 2 m_r)",
            r.reference_ratio > 2,
            departs=True,
            baseline="m_r of the same image",
            margin="2x",
            m_g_over_m_r=r.reference_ratio,
        )
    ]


def vit_keeps_the_input(runs: Runs) -> list[Claim]:
    """Checked as a departure: ViT-B/16's last block keeps the input, ``m_i`` below half
    ResNet50's last stage."""
    if not {"vit_b_16", "resnet50"} <= runs.keys():
        return []
    vit, resnet = _last(runs, "vit_b_16"), _last(runs, "resnet50")
    return [
        claim(
            "vit_b_16 keeps the input: last block m_i < 0.5x ResNet50's last stage",
            vit.input_distance < 0.5 * resnet.input_distance,
            departs=True,
            converged=converged(vit, resnet),
            baseline="ResNet50's last stage, same image and seed",
            margin="0.5x",
            m_i_over_shift=vit.shift_ratio,
            m_i_vit=vit.input_distance,
            m_i_resnet50=resnet.input_distance,
        )
    ]


def vit_grows_slowly(runs: Runs, early: str = "block3", deep: str = "block12") -> list[Claim]:
    """Checked as a departure from a report on an untrained ViT-B/32 (flat across the blocks):
    ViT-B/16's ``m_i`` grows slowly, ``deep`` between 1.1x and 2x ``early``."""
    if "vit_b_16" not in runs:
        return []
    blocks = runs["vit_b_16"]
    growth = blocks[deep].input_distance / blocks[early].input_distance
    return [
        claim(
            "vit_b_16: m_i is not flat across the blocks (as reported for an untrained ViT-B/32) "
            f"but grows slowly: {deep} between 1.1x and 2x {early}",
            (growth > 1.1) & (growth < 2),
            departs=True,
            baseline=f"m_i at {early}, same image and seed",
            converged=converged(blocks[early], blocks[deep]),
            margin="1.1x to 2x",
            **{f"{deep}_over_{early}": growth},
        )
    ]
