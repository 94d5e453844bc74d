"""Models: torchvision classifiers and the paper's fully connected nets, ready to invert.

:func:`load_model` returns a model in eval mode with frozen parameters (only the input
gets gradients), on CUDA when there is one unless ``device`` says otherwise.
"""

from __future__ import annotations

import re
import urllib.error
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import torch
import torchvision
from torch import nn

from .checkpoints import cache_dir, load_checkpoint, local_checkpoints
from .names import did_you_mean


class UnknownModelError(ValueError):
    """A model name that depthrep cannot build; the message lists the valid ones."""


class WeightsUnavailable(RuntimeError):
    """Pretrained weights are not cached and cannot be downloaded; the message says where
    to put the file."""


# The paper's fully connected nets take 29x29 RGB inputs (2523 values).
FC_IMAGE_SIZE = 29
_FC_NAME = re.compile(r"^fc(\d+(?:x\d+)?(?:,\d+(?:x\d+)?)*)(-relu)?$")

# Builder arguments an untrained torchvision model needs to be invertible end to end.
_RANDOM_KWARGS = {
    "googlenet": {"aux_logits": False, "init_weights": True},
    "inception_v3": {"aux_logits": False, "init_weights": True},
}


class FullyConnected(nn.Sequential):
    """The paper's fully connected net: flatten, then ``Linear`` layers, optionally ReLU.

    Input ``(B, 3, S, S)``; the output of hidden layer ``i`` is the node ``fc{i}``
    (``relu{i}`` when ``relu=True``). There is no classifier head: the paper inverts the
    hidden layers.

    Args:
        widths: units per layer, e.g. ``[3000, 3000, 3000]``.
        image_size: side ``S`` of the square RGB input.
        relu: put a ReLU after every layer.
    """

    def __init__(self, widths: Sequence[int], image_size: int = FC_IMAGE_SIZE, relu: bool = False):
        if not widths or any(int(w) < 1 for w in widths):
            raise ValueError(f"widths must be positive ints, got {list(widths)}")
        blocks: OrderedDict[str, nn.Module] = OrderedDict(flatten=nn.Flatten())
        previous = 3 * image_size * image_size
        for i, width in enumerate(widths, 1):
            blocks[f"fc{i}"] = nn.Linear(previous, int(width))
            if relu:
                blocks[f"relu{i}"] = nn.ReLU()
            previous = int(width)
        super().__init__(blocks)
        self.widths = [int(w) for w in widths]
        self.image_size = image_size
        self.relu = relu

    def extra_repr(self) -> str:
        return f"widths={self.widths}, image_size={self.image_size}, relu={self.relu}"


def fc_name(widths: Sequence[int], relu: bool = False) -> str:
    """The :func:`load_model` name of a fully connected net, e.g. ``"fc3000x4"``."""
    groups: list[list[int]] = []
    for w in widths:
        if groups and groups[-1][0] == w:
            groups[-1][1] += 1
        else:
            groups.append([w, 1])
    body = ",".join(f"{w}x{n}" if n > 1 else f"{w}" for w, n in groups)
    return f"fc{body}" + ("-relu" if relu else "")


def parse_fc_name(name: str) -> tuple[list[int], bool] | None:
    """``"fc3000x2,6000-relu"`` -> ``([3000, 3000, 6000], True)``; ``None`` if not an FC name."""
    match = _FC_NAME.match(name)
    if not match:
        return None
    widths: list[int] = []
    for group in match.group(1).split(","):
        width, _, count = group.partition("x")
        widths += [int(width)] * int(count or 1)
    return widths, bool(match.group(2))


def model_names() -> list[str]:
    """Every torchvision classification model name :func:`load_model` accepts.

    Fully connected nets are named by their widths: ``"fc3000x4"`` (four layers of 3000),
    ``"fc3000x2,6000"``, with ``-relu`` for ReLU after each layer.
    """
    return sorted(torchvision.models.list_models(module=torchvision.models))


def default_device() -> torch.device:
    """CUDA when available, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def model_device(model: nn.Module) -> torch.device:
    """The device of a model's parameters (the CPU for a model without any)."""
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def load_model(
    name: str,
    weights: str | Path = "random",
    *,
    seed: int = 0,
    device: str | torch.device | None = None,
    image_size: int | None = None,
    **builder_kwargs,
) -> nn.Module:
    """Build a model by name, in eval mode, parameters frozen, on ``device``.

    Args:
        name: a torchvision classification model (see :func:`model_names`, e.g.
            ``"resnet50"``) or a fully connected net (``"fc3000x4"``, ``"fc2000x4-relu"``).
        weights: ``"random"`` (untrained, initialised from ``seed``); ``"imagenet"``
            (torchvision's ImageNet weights: ``IMAGENET1K_V1``, what the paper's
            ``pretrained=True`` loaded, where it exists), or the name of another weights
            enum member such as ``"IMAGENET1K_V2"``; ``"local"`` (the best checkpoint
            trained here on shipped photos, see :mod:`depthrep.train`); or a path to a
            checkpoint or state dict, read with ``weights_only=True``.
        seed: seeds the random initialisation; the global RNG is left untouched.
        device: where to put the model; ``None`` means CUDA when available, else CPU.
        image_size: input side the model is built for, where the architecture needs it:
            fully connected nets (default 29), vision transformers (a multiple of the patch
            size) and MaxViT (a multiple of 224); other models take any size.
        builder_kwargs: passed to the torchvision builder (e.g. ``num_classes=9``).

    Raises:
        UnknownModelError: the name is not a model; the message lists the valid ones.
        WeightsUnavailable: ImageNet weights are not cached and cannot be downloaded;
            the message names the file and the folder to put it in.
        CheckpointError: the weights file is missing or corrupt.
    """
    device = torch.device(device) if device is not None else default_device()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _build(name, weights, image_size, builder_kwargs)
    return model.to(device).eval().requires_grad_(False)


def _build(name: str, weights, image_size: int | None, kwargs: dict) -> nn.Module:
    fc = parse_fc_name(name) if isinstance(name, str) else None
    if fc is not None:
        if weights == "imagenet":
            raise WeightsUnavailable(
                f"{name} is one of the paper's fully connected nets: it has no ImageNet weights."
            )
        model: nn.Module = FullyConnected(fc[0], image_size or FC_IMAGE_SIZE, relu=fc[1])
    elif name in model_names():
        if image_size is not None and name.startswith("vit_"):
            kwargs = {"image_size": image_size, **kwargs}
        elif image_size is not None and name == "maxvit_t":
            kwargs = {"input_size": (image_size, image_size), **kwargs}
        if weights in ("random", None):
            return torchvision.models.get_model(
                name, weights=None, **{**_RANDOM_KWARGS.get(name, {}), **kwargs}
            )
        if weights == "local":
            return _local(name, kwargs)
        if _is_weights_name(name, weights):
            return _pretrained(name, str(weights), kwargs)
        model = torchvision.models.get_model(name, weights=None, **{**_RANDOM_KWARGS.get(name, {}), **kwargs})
    else:
        raise UnknownModelError(
            f"Unknown model {name!r}.{did_you_mean(name, model_names(), n=3)}"
            f" Valid torchvision models: {', '.join(model_names())}."
            " Fully connected nets: 'fc<width>x<depth>' such as 'fc3000x4' (add '-relu')."
        )
    if weights in ("random", None):
        return model
    return _load_file(model, name, weights)


def _local(name: str, kwargs: dict) -> nn.Module:
    found = local_checkpoints(name)
    if not found:
        raise WeightsUnavailable(
            f"No {name} trained here yet in {cache_dir()}. Train one with "
            f"`python -m depthrep train {name}` (a few minutes on a CPU), or pass weights='random'."
        )
    _, meta = load_checkpoint(found[0])
    model = torchvision.models.get_model(name, weights=None, **{"num_classes": meta["classes"], **kwargs})
    return _load_file(model, name, found[0])


def available_weights(name: str) -> dict[str, str | None]:
    """For each kind of weights, ``None`` if :func:`load_model` can load it now, else why not.

    ``"imagenet"`` counts as available when its file is in the torch hub cache (a download
    may still work where there is a network).
    """
    status: dict[str, str | None] = {"random": None}
    if parse_fc_name(name) is not None:
        return status | {"imagenet": "fully connected nets have no ImageNet weights",
                         "local": "fully connected nets are not trained here"}  # fmt: skip
    enum = torchvision.models.get_model_weights(name)
    member = enum.__members__.get("IMAGENET1K_V1", enum.DEFAULT)
    cached = Path(torch.hub.get_dir()) / "checkpoints" / member.url.rsplit("/", 1)[-1]
    status["imagenet"] = None if cached.exists() else f"not downloaded: {cached} is missing"
    status["local"] = (
        None if local_checkpoints(name) else f"not trained here yet (python -m depthrep train {name})"
    )
    return status


def _is_weights_name(name: str, weights) -> bool:
    if not isinstance(weights, str) or weights in ("random", "local"):
        return False
    if weights == "imagenet":
        return True
    enum = torchvision.models.get_model_weights(name)
    return weights in enum.__members__ and not Path(weights).exists()


def _pretrained(name: str, weights: str, kwargs: dict) -> nn.Module:
    enum = torchvision.models.get_model_weights(name)
    if weights == "imagenet":
        member = enum.__members__.get("IMAGENET1K_V1", enum.DEFAULT)
    else:
        member = enum[weights]
    filename = member.url.rsplit("/", 1)[-1]
    target = Path(torch.hub.get_dir()) / "checkpoints" / filename
    try:
        return torchvision.models.get_model(name, weights=member, **kwargs)
    except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
        raise WeightsUnavailable(
            f"{name} {member.name} weights are not in the torch hub cache and could not be "
            f"downloaded ({getattr(err, 'reason', err)}). Download {member.url} on a machine "
            f"with internet and put it at {target} (the folder is $TORCH_HOME/hub/checkpoints; "
            "set TORCH_HOME to use another), or pass weights='random'."
        ) from None


def _load_file(model: nn.Module, name: str, path) -> nn.Module:
    path = Path(path)
    if not path.exists():
        raise WeightsUnavailable(
            f"weights={str(path)!r} is neither 'random', 'imagenet', a weights name of "
            f"{name} nor an existing file."
        )
    state_dict, _ = load_checkpoint(path)
    own = model.state_dict()
    wrong = [
        f"{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in state_dict.items()
        if k in own and own[k].shape != v.shape
    ]
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    if wrong or missing or unexpected:
        details = "; ".join(
            part
            for part in (
                f"shape mismatches: {', '.join(wrong[:3])}" if wrong else "",
                f"missing keys: {', '.join(missing[:3])}" if missing else "",
                f"unexpected keys: {', '.join(unexpected[:3])}" if unexpected else "",
            )
            if part
        )
        raise WeightsUnavailable(
            f"{path} does not fit {name} ({details}). Build the model it was saved from, "
            "e.g. pass num_classes=... for another classifier size."
        )
    model.load_state_dict(state_dict)
    return model
