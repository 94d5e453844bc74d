"""Layer names: the paper's names for each architecture, and any torchvision node name.

The paper names ResNet layers Conv1..Conv5; depthrep adds ``conv1_prepool``, the stem
after its ReLU and before max-pooling (the paper's "Conv1 before pooling"):

==================  ==============================================
depthrep name       torchvision node
==================  ==============================================
``conv1_prepool``   ``relu``     (conv 7x7/2 -> bn -> relu)
``conv1``           ``maxpool``  (the stem output)
``conv2``           ``layer1``
``conv3``           ``layer2``
``conv4``           ``layer3``
``conv5``           ``layer4``
==================  ==============================================

Every node that :func:`torchvision.models.feature_extraction.get_graph_node_names`
lists is accepted too, and so is a module name such as ``"layer3.1"`` (meaning its
last node), as in ``create_feature_extractor``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import torch
from torch import nn
from torchvision.models.feature_extraction import get_graph_node_names

from depthrep._util.names import did_you_mean
from depthrep.errors import DepthrepError, UnknownLayerError, UntraceableModelError
from depthrep.zoo.models import load_model


def _resnet(model: nn.Module) -> dict[str, str]:
    stages = {"conv1_prepool": "relu", "conv1": "maxpool"}
    stages.update({f"conv{i + 2}": f"layer{i + 1}" for i in range(4)})
    return stages


def _fully_connected(model: nn.Module) -> dict[str, str]:
    act = "relu" if model.relu else "fc"
    return {f"fc{i}": f"{act}{i}" for i in range(1, len(model.widths) + 1)}


def _googlenet(model: nn.Module) -> dict[str, str]:
    names = ["conv1", "conv3", "inception3b", "inception4e", "inception5b"]
    return {n: n for n in names}


def _inception3(model: nn.Module) -> dict[str, str]:
    names = ["Conv2d_1a_3x3", "Conv2d_4a_3x3", "Mixed_5d", "Mixed_6e", "Mixed_7c"]
    return {n: n for n in names}


def _vgg(model: nn.Module) -> dict[str, str]:
    pools = [name for name, m in model.features.named_children() if isinstance(m, nn.MaxPool2d)]
    return {f"pool{i}": f"features.{name}" for i, name in enumerate(pools, 1)}


def _alexnet(model: nn.Module) -> dict[str, str]:
    children = list(model.features.named_children())
    relus = [name for (name, m), (_, before) in zip(children[1:], children, strict=False)
             if isinstance(m, nn.ReLU) and isinstance(before, nn.Conv2d)]  # fmt: skip
    return {f"conv{i}": f"features.{name}" for i, name in enumerate(relus, 1)}


def _densenet(model: nn.Module) -> dict[str, str]:
    blocks = [n for n, _ in model.features.named_children() if n.startswith("denseblock")]
    return {"stem": "features.pool0"} | {f"block{i}": f"features.{n}" for i, n in enumerate(blocks, 1)}


def _efficientnet(model: nn.Module) -> dict[str, str]:
    children = [n for n, _ in model.features.named_children()]
    stages = {f"stage{i}": f"features.{n}" for i, n in enumerate(children[1:-1], 1)}
    return {"stem": f"features.{children[0]}"} | stages | {"head": f"features.{children[-1]}"}


def _efficientnet_lite(model: nn.Module) -> dict[str, str]:
    """Stem, the last stage at each resolution (a stage ends one where the next one strides),
    and the head before pooling: 7 layers for EfficientNet-Lite0."""
    stages = list(model.features.named_children())[1:-1]
    strides = [stage[0].depthwise.conv.stride[0] for _, stage in stages]
    ends = [name for (name, _), after in zip(stages, [*strides[1:], 2], strict=True) if after > 1]
    last = len(model.features) - 1
    return (
        {"stem": "features.0"} | {f"stage{n}": f"features.{n}" for n in ends} | {"head": f"features.{last}"}
    )


def _convnext(model: nn.Module) -> dict[str, str]:
    children = [n for n, _ in model.features.named_children()]  # stem, stage, down, stage, ...
    return {"stem": f"features.{children[0]}"} | {
        f"stage{i}": f"features.{n}" for i, n in enumerate(children[1::2], 1)
    }


def _swin(model: nn.Module) -> dict[str, str]:
    children = [n for n, _ in model.features.named_children()]  # patches, stage, merge, stage, ...
    return {"patches": f"features.{children[0]}"} | {
        f"stage{i}": f"features.{n}" for i, n in enumerate(children[1::2], 1)
    }


def _vit(model: nn.Module) -> dict[str, str]:
    blocks = [n for n, _ in model.encoder.layers.named_children()]
    return {"patches": "conv_proj"} | {f"block{i}": f"encoder.layers.{n}" for i, n in enumerate(blocks, 1)}


def _maxvit(model: nn.Module) -> dict[str, str]:
    return {"stem": "stem"} | {
        f"stage{i}": f"blocks.{n}" for i, (n, _) in enumerate(model.blocks.named_children(), 1)
    }


def _regnet(model: nn.Module) -> dict[str, str]:
    blocks = [n for n, _ in model.trunk_output.named_children()]
    return {"stem": "stem"} | {f"stage{i}": f"trunk_output.{n}" for i, n in enumerate(blocks, 1)}


def _shufflenet(model: nn.Module) -> dict[str, str]:
    return {n: n for n in ("conv1", "maxpool", "stage2", "stage3", "stage4", "conv5")}


def _by_resolution(container: str):
    """Stage outputs of a sequential trunk: the last child at each spatial resolution."""

    def stages(model: nn.Module) -> dict[str, str]:
        trunk = getattr(model, container)
        reference = next(model.parameters())
        x = torch.zeros((1, 3, 64, 64), device=reference.device, dtype=reference.dtype)
        sizes = []
        training = model.training
        model.eval()  # no batch-norm statistics are touched
        try:
            with torch.no_grad():
                for name, child in trunk.named_children():
                    x = child(x)
                    sizes.append((name, tuple(x.shape[-2:])))
        finally:
            model.train(training)
        ends = [
            n
            for (n, size), (_, after) in zip(sizes, [*sizes[1:], (None, None)], strict=True)
            if size != after
        ]
        return {f"stage{i}": f"{container}.{n}" for i, n in enumerate(ends, 1)}

    return stages


# Family (the model's class name) -> function giving {name: torchvision node} in depth order.
CATALOGUE = {
    "ResNet": _resnet,
    "FullyConnected": _fully_connected,
    "GoogLeNet": _googlenet,
    "Inception3": _inception3,
    "VGG": _vgg,
    "AlexNet": _alexnet,
    "DenseNet": _densenet,
    "EfficientNet": _efficientnet,
    "EfficientNetLite": _efficientnet_lite,
    "ConvNeXt": _convnext,
    "SwinTransformer": _swin,
    "VisionTransformer": _vit,
    "MaxVit": _maxvit,
    "RegNet": _regnet,
    "ShuffleNetV2": _shufflenet,
    "MobileNetV2": _by_resolution("features"),
    "MobileNetV3": _by_resolution("features"),
    "MNASNet": _by_resolution("layers"),
    "SqueezeNet": _by_resolution("features"),
}


def family(model: nn.Module) -> str:
    """The architecture family of a model: its class name (``"ResNet"``, ...)."""
    return type(model).__name__


def named_layers(model: nn.Module) -> dict[str, str]:
    """The default layers of ``model`` in depth order: ``{name: torchvision node}``.

    Raises:
        UnknownLayerError: depthrep has no list for the model's family, or the model has the
            family's name but not its layout (a user's own ``ResNet``, timm's ``EfficientNet``).
    """
    catalogue = _catalogue(model)
    if catalogue is None:
        raise UnknownLayerError(
            f"depthrep has no default layer list for {family(model)} (or the model does not have "
            "torchvision's layout of that name): pass torchvision node names "
            "(depthrep.node_names(model) lists them)."
        )
    return catalogue


def _catalogue(model: nn.Module) -> dict[str, str] | None:
    """The family's layers where the model has the family's layout: every node they name is a
    module of the model. ``None`` where there is no catalogue or the layout differs."""
    rule = CATALOGUE.get(family(model))
    if rule is None:
        return None
    try:
        named = rule(model)
    except (AttributeError, IndexError, KeyError, TypeError):
        return None
    modules = dict(model.named_modules())
    return named if all(node in modules for node in named.values()) else None


def layers(model: nn.Module | str) -> list[str]:
    """The paper's layer names for a model (or a model name), in depth order.

    >>> import depthrep
    >>> depthrep.layers("resnet18")
    ['conv1_prepool', 'conv1', 'conv2', 'conv3', 'conv4', 'conv5']
    """
    if isinstance(model, str):
        model = load_model(model, device="meta")  # the architecture alone: no memory, no init cost
    return list(named_layers(model))


def node_names(model: nn.Module) -> list[str]:
    """Every torchvision feature-extraction node of ``model`` (eval mode), in graph order."""
    with unchanged_modes(model), traceable(model):
        return get_graph_node_names(model)[1]


@contextlib.contextmanager
def traceable(model: nn.Module):
    """Turn a failure to trace ``model`` with torch.fx inside into :class:`UntraceableModelError`."""
    try:
        yield
    except DepthrepError:
        raise
    except Exception as err:  # fx's TraceError, or the model's own code failing on its proxies
        first = str(err).strip().splitlines()[0][:160] if str(err).strip() else ""
        raise UntraceableModelError(
            f"torch.fx cannot trace {type(model).__name__} ({type(err).__name__}: {first}): depthrep reads "
            "layers out of a traced graph, so the forward pass may not branch on tensor values; wrap "
            "such code in a function marked with torch.fx.wrap, or invert a traceable part of the model."
        ) from err


@contextlib.contextmanager
def unchanged_modes(model: nn.Module):
    """Restore every module's ``training`` flag on the way out, whatever happens inside.

    torchvision's tracer switches the model between train and eval mode while it traces, and a
    trace that fails midway (an untraceable model, a node it lacks) leaves it switched: a model
    in training mode would then update its batch-norm statistics on its next forward pass.
    """
    modes = [(m, m.training) for m in model.modules()]
    try:
        yield model
    finally:
        for m, training in modes:
            m.training = training


def resolve(model: nn.Module, names: str | Iterable[str]) -> dict[str, str]:
    """Map each layer name to the torchvision node (or module prefix) it stands for.

    Returns ``{name: node}`` in the order given. Names are the model's default names
    (:func:`layers`) or any node name or module prefix from :func:`node_names`.

    Raises:
        UnknownLayerError: a name matches nothing; the message lists the default names,
            suggests the nearest ones and says where to find every node name.
    """
    names = [names] if isinstance(names, str) else list(names)
    if not names:
        raise UnknownLayerError("No layer given: pass at least one layer name.")
    named = _catalogue(model) or {}
    nodes = node_names(model)
    resolved = {}
    for name in names:
        if name in named:
            resolved[name] = named[name]
        elif any(node == name or node.startswith(name + ".") for node in nodes):
            resolved[name] = name
        else:
            raise UnknownLayerError(_unknown(model, name, list(named), nodes))
    return resolved


def depth_order(model: nn.Module, names: Iterable[str]) -> list[str]:
    """``names`` sorted from shallowest to deepest (by the position of their node)."""
    depth = relative_depth(model, names)
    return sorted(depth, key=depth.get)


def relative_depth(model: nn.Module, names: Iterable[str]) -> dict[str, float]:
    """``{name: depth}``: each layer's position in the graph, 0 at the input and 1 at the deepest.

    Depth counts graph nodes (convolutions, norms, activations, additions...) from the input,
    so families with different numbers of stages share one axis.
    """
    resolved = resolve(model, names)
    nodes = node_names(model)

    def position(node: str) -> int:
        return max(i for i, n in enumerate(nodes) if n == node or n.startswith(node + "."))

    positions = {name: position(node) for name, node in resolved.items()}
    deepest = max(positions.values())
    return {name: p / deepest for name, p in positions.items()}


def _unknown(model: nn.Module, name, named: list[str], nodes: list[str]) -> str:
    parts = [
        f"Unknown layer {name!r} for {family(model)}.{did_you_mean(name, named + nodes, n=3, cutoff=0.5)}"
    ]
    if named:
        parts.append(f"Its layers, shallow to deep: {', '.join(named)}.")
    example = nodes[len(nodes) // 2] if nodes else ""
    parts.append(
        f"Any of its {len(nodes)} torchvision node names works too (e.g. {example!r}): "
        "depthrep.node_names(model) lists them."
    )
    return " ".join(parts)
