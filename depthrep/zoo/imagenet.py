"""Class scores of ImageNet classifiers, with the preprocessing their weights expect.

:func:`classify` scales ``[0, 1]`` pixels as the model's weights were trained
(:func:`depthrep.zoo.models.input_scaling`), so no caller has to know which rule applies;
:func:`top_classes` names the best classes with ImageNet's category names.
"""

from __future__ import annotations

from functools import cache

import torch
import torchvision
from torch import nn

from depthrep.zoo.images import check_image
from depthrep.zoo.layers import unchanged_modes
from depthrep.zoo.models import input_scaling, model_device


@torch.no_grad()
def classify(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Class probabilities of ``images`` ``(B, 3, H, W)`` in ``[0, 1]``: ``(B, classes)`` float32 on
    the CPU, each row summing to 1.

    The model runs in eval mode on its own device (its training flag is restored after).

    Raises:
        ImageError: ``images`` is not a ``(B, 3, H, W)`` float tensor in ``[0, 1]``.
    """
    check_image(images, "classify's images")
    mean, std = input_scaling(model)
    device = model_device(model)
    x = (images.to(device, torch.float32) - mean.to(device)) / std.to(device)
    with unchanged_modes(model):
        logits = model.eval()(x)
    return logits.float().softmax(1).cpu()


@cache
def imagenet_categories() -> tuple[str, ...]:
    """ImageNet-1k's 1,000 class names in the order of the classifiers' outputs (from
    torchvision's weights meta, which needs no download)."""
    return tuple(torchvision.models.ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


def top_classes(probabilities: torch.Tensor, k: int = 5) -> list[list[tuple[str, float]]]:
    """Per image, the ``k`` most probable ImageNet classes as ``(name, probability)``, best first.

    Args:
        probabilities: ``(B, 1000)``, as :func:`classify` returns.

    >>> top_classes(torch.eye(1000)[[970]], k=1)
    [[('alp', 1.0)]]
    """
    names = imagenet_categories()
    if probabilities.ndim != 2 or probabilities.shape[1] != len(names):
        raise ValueError(
            f"top_classes takes (B, {len(names)}) ImageNet probabilities, not {tuple(probabilities.shape)}"
        )
    values, indices = probabilities.topk(k, dim=1)
    return [[(names[i], float(v)) for v, i in zip(vs, ix, strict=True)]
            for vs, ix in zip(values.tolist(), indices.tolist(), strict=True)]  # fmt: skip


def top_agreement(reference: torch.Tensor, other: torch.Tensor, k: int = 5) -> torch.Tensor:
    """``(B,)`` bool: whether each image's top-1 class under ``reference`` is among its top ``k``
    under ``other`` (both ``(B, classes)`` probabilities): does a reconstruction keep the
    target's class?"""
    best = reference.argmax(1, keepdim=True)
    return (other.topk(k, dim=1).indices == best).any(1)
