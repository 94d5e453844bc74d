"""The truncated forward pass: a model cut after its deepest requested layer, in segments.

``create_feature_extractor`` (torch.fx) gives one graph that returns every requested
node and drops everything below the deepest. :class:`Encoder` splits that graph at the
requested nodes that are *clean cuts* (nothing computed before the node is still needed
after it: ResNet stage outputs, VGG pools, transformer blocks) into segments that each
take one tensor. A batch whose members stop at different layers then runs stage by
stage: members are ordered deepest first, so the members still running are always a
prefix of the batch and leave it with a free slice, no copy.

Each segment is also made cheaper to differentiate, without changing what it computes:
eval-mode batch norms are folded into the convolution before them (torch.fx's ``fuse``;
the same map up to float rounding), and in-place ops are made out of place. The user's
model is never modified.

Building an encoder traces the model (torch.fx), which costs about a second for a ResNet50:
:func:`encoder_for` builds one per model, layers and normalisation and reuses it while the model
lives and its modules, parameters and buffers are unchanged (a weak reference: a cached
encoder never keeps a model alive).
"""

from __future__ import annotations

import copy
import itertools
import weakref
from collections.abc import Iterable, Sequence

import torch
from torch import fx, nn
from torch.fx.experimental.optimization import fuse
from torchvision.models.feature_extraction import create_feature_extractor

from depthrep._util.precision import DTYPES
from depthrep.errors import UnusableWeightsError
from depthrep.zoo.layers import resolve, traceable, unchanged_modes
from depthrep.zoo.models import input_scaling


def encoder_for(model: nn.Module, layers: str | Iterable[str], normalize: bool = False) -> Encoder:
    """The :class:`Encoder` of ``model`` at ``layers``, built once and reused.

    Reused while ``model`` has the same modules, parameters and buffers, none changed in
    place (``load_state_dict``, an optimiser step or a replaced module builds a new one: the
    encoder holds batch norms folded into copies of the weights).
    """
    if model.training:  # as Encoder() says, before any cache lookup
        return Encoder(model, layers, normalize)
    names = (layers,) if isinstance(layers, str) else tuple(layers)
    key = (names, normalize, _state(model))
    built = _ENCODERS.setdefault(model, {})
    if key not in built:
        stale = [k for k in built if k[2] != key[2]]
        for k in stale:
            del built[k]
        built[key] = Encoder(model, names, normalize)
    return built[key]


_ENCODERS: weakref.WeakKeyDictionary[nn.Module, dict[tuple, Encoder]] = weakref.WeakKeyDictionary()
"""Encoders by model, then by (layers, normalize, state): entries go with their model."""


def _state(model: nn.Module) -> tuple:
    """What an encoder's validity depends on: which modules and tensors the model holds, and
    each tensor's in-place version counter."""
    tensors = itertools.chain(model.parameters(), model.buffers())
    return (tuple(map(id, model.modules())), tuple((id(t), t._version) for t in tensors))


class Encoder:
    """The embeddings ``O_l(x)`` of several layers of one model, computed in one pass.

    Args:
        model: a model in eval mode (see :func:`depthrep.load_model`).
        layers: layer names (see :func:`depthrep.layers`), any order.
        normalize: scale pixels as the model's weights expect before the model
            (:func:`depthrep.zoo.models.input_scaling`: ImageNet's mean and std for torchvision's
            weights, ``(x - 0.5) / 0.5`` for EfficientNet-Lite0); the paper feeds raw
            ``[0, 1]`` pixels: off by default.

    Calling the encoder on ``x: (B, 3, H, W)`` returns ``{layer: (B, ...)}``.
    """

    def __init__(self, model: nn.Module, layers: str | Iterable[str], normalize: bool = False):
        if model.training:
            raise ValueError(
                "The model is in training mode, where batch norm mixes the images of a batch: "
                "call model.eval() (depthrep.load_model returns models in eval mode)."
            )
        self.nodes = resolve(model, layers)
        self.layers = list(self.nodes)
        self.normalize = normalize
        queries = list(dict.fromkeys(self.nodes.values()))
        with unchanged_modes(model), traceable(model):
            graph_module = create_feature_extractor(model, return_nodes={q: q for q in queries})
        graph_module.eval()
        self.segments, segment_of_query = _split(graph_module)
        self.segment_of = {name: segment_of_query[node] for name, node in self.nodes.items()}
        self._query_of = self.nodes
        self._mean_std = input_scaling(model)

    @property
    def deepest_first(self) -> list[str]:
        """Layers from deepest segment to shallowest (the order batch members are kept in)."""
        return sorted(self.layers, key=lambda name: -self.segment_of[name])

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """The model's input for images ``x`` in ``[0, 1]`` (normalised if asked)."""
        if not self.normalize:
            return x
        mean, std = (t.to(x.device, x.dtype) for t in self._mean_std)
        return (x - mean) / std

    def __call__(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every layer's embedding for every image: ``{layer: (B, ...)}``."""
        found: dict[str, torch.Tensor] = {}
        h = self.prepare(x)
        for segment in self.segments[: 1 + max(self.segment_of.values())]:
            h, outputs = segment(h)
            found.update(outputs)
        return {name: found[query] for name, query in self._query_of.items()}

    def activation_bytes(self, image_shape: tuple[int, ...], precision: str = "float32") -> dict[str, int]:
        """Estimated activation memory of one member inverted at each layer, in bytes.

        Every node's output up to the end of the layer's segment is kept for the backward
        pass; the estimate counts them once for the forward and once for their gradients.
        Measured by one forward pass of a single image (``image_shape = (3, H, W)``);
        ``precision`` is ``"float32"`` or ``"bfloat16"`` (half the bytes).
        """
        h = self.prepare(torch.zeros((1, *image_shape), device=self.device))
        per_segment = []
        with torch.no_grad():
            for segment in self.segments:
                sizes = []

                def keep(module, args, output, sizes=sizes):
                    sizes.extend(t.numel() for t in _tensors(output))

                hooks = [m.register_forward_hook(keep) for m in segment.modules() if not list(m.children())]
                try:
                    h, _ = segment(h)
                finally:
                    for hook in hooks:
                        hook.remove()
                per_segment.append(2 * sum(sizes) * DTYPES[precision].itemsize)
        cumulative = torch.tensor(per_segment).cumsum(0).tolist()
        return {name: int(cumulative[self.segment_of[name]]) for name in self.layers}

    def chunks(
        self, image_shape: tuple[int, ...], batch: int, budget: int, precision: str = "float32"
    ) -> list[tuple[list[str], slice]]:
        """Groups of (layers, images) whose activations fit in ``budget`` bytes, deepest first.

        Inverting ``batch`` images of ``image_shape`` ``(3, H, W)`` at every layer, one group
        at a time, keeps each group's activations (:meth:`activation_bytes`) within the budget;
        groups share their deepest stages. A single group when all of it fits.

        Raises:
            MemoryError: on CUDA, when one member of the deepest layer alone is over budget.
        """
        per_member = self.activation_bytes(image_shape, precision)
        deepest = max(per_member.values())
        if deepest * batch <= budget and sum(per_member.values()) * batch <= budget:
            return [(self.layers, slice(None))]
        images = max(1, min(batch, budget // max(deepest, 1)))
        if deepest > budget and self.device.type == "cuda":
            raise MemoryError(
                f"One member of the deepest layer needs about {deepest / 2**30:.2f} GiB of activations, "
                f"more than the {budget / 2**30:.2f} GiB available: use smaller images or a shallower layer."
            )
        groups: list[list[str]] = []
        used = 0
        for name in self.deepest_first:  # deepest first, so groups share their deepest stages
            cost = per_member[name] * images
            if groups and used + cost <= budget:
                groups[-1].append(name)
                used += cost
            else:
                groups.append([name])
                used = cost
        return [(group, slice(i, i + images)) for group in groups for i in range(0, batch, images)]

    @property
    def device(self) -> torch.device:
        """Where the model's weights are (the CPU for a model without any)."""
        return next((t.device for s in self.segments for t in s.parameters()), torch.device("cpu"))

    def staged(self, x: torch.Tensor, blocks: dict[str, slice]) -> dict[str, torch.Tensor]:
        """Embeddings of batch members that each stop at their own layer.

        Args:
            x: ``(M, 3, H, W)`` inputs, ordered so that members of deeper layers come
                first (see :attr:`deepest_first`).
            blocks: ``{layer: slice}`` the members aimed at each layer; together the
                slices tile ``0..M`` in :attr:`deepest_first`.

        Returns:
            ``{layer: embedding of x[blocks[layer]] at that layer}``. A segment runs only
            on the members that need it or a deeper one.
        """
        active = [0] * len(self.segments)
        for name, block in blocks.items():
            for k in range(self.segment_of[name] + 1):
                active[k] = max(active[k], block.stop)
        wanted: dict[int, list[str]] = {}
        for name in blocks:
            wanted.setdefault(self.segment_of[name], []).append(name)
        out: dict[str, torch.Tensor] = {}
        h = self.prepare(x)
        for k, segment in enumerate(self.segments):
            if active[k] == 0:
                break
            h, outputs = segment(h[: active[k]])
            for name in wanted.get(k, ()):
                out[name] = outputs[self._query_of[name]][blocks[name]]
        return out


def _tensors(value):
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from _tensors(v)


def check_weights(model: nn.Module) -> None:
    """Refuse weights that cannot run an inversion: on the meta device (no values; an
    :class:`Encoder` of one still gives shapes) or in another float type than float32."""
    tensors = [*model.parameters(), *model.buffers()]
    if any(t.is_meta for t in tensors):
        raise UnusableWeightsError(
            f"{type(model).__name__}'s weights are on the meta device (shapes without values): load them "
            "first, e.g. model.to_empty(device='cpu') then model.load_state_dict(...)."
        )
    other = sorted(
        {str(t.dtype).removeprefix("torch.") for t in tensors if t.is_floating_point()} - {"float32"}
    )
    if other:
        raise UnusableWeightsError(
            f"{type(model).__name__}'s weights are {', '.join(other)}; depthrep inverts float32 models (pass "
            "model.float(); precision='bfloat16' runs the forward pass in bfloat16 where the device does)."
        )


def _split(graph_module: fx.GraphModule) -> tuple[list[fx.GraphModule], dict[str, int]]:
    """Cut the feature-extractor graph at its clean-cut output nodes.

    Returns the segments (each maps one tensor to ``(next cut, {query: tensor})``) and
    the segment index holding each returned query.
    """
    graph = graph_module.graph
    nodes = [n for n in graph.nodes if n.op != "output"]
    output = next(n for n in graph.nodes if n.op == "output")
    returned: dict[str, fx.Node] = output.args[0]
    position = {n: i for i, n in enumerate(nodes)}
    last_use = {n: max([position[u] for u in n.users if u is not output], default=position[n]) for n in nodes}
    requested = set(returned.values())
    cuts, reach = [], -1
    for i, node in enumerate(nodes):
        if node in requested and reach <= i and i < len(nodes) - 1:
            cuts.append(node)
        if node.op != "get_attr":
            reach = max(reach, last_use[node])
    bounds = [position[c] for c in cuts] + [len(nodes) - 1]
    segments, segment_of = [], {}
    start = 0
    for k, end in enumerate(bounds):
        members = nodes[start : end + 1]
        entry = nodes[start - 1] if k else None
        queries = {q: n for q, n in returned.items() if n in members}
        segment_of.update({q: k for q in queries})
        segments.append(_segment(graph_module, members, entry, nodes[end], queries))
        start = end + 1
    return segments, segment_of


def _segment(
    root: fx.GraphModule,
    members: Sequence[fx.Node],
    entry: fx.Node | None,
    exit_node: fx.Node,
    queries: dict[str, fx.Node],
) -> fx.GraphModule:
    graph = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    if entry is not None:
        env[entry] = graph.placeholder("x")

    def lookup(node: fx.Node) -> fx.Node:
        if node not in env:
            if node.op != "get_attr":
                raise RuntimeError(f"segment needs {node.name} from an earlier segment")
            env[node] = graph.node_copy(node)
        return env[node]

    for node in members:
        env[node] = graph.node_copy(node, lookup)
    graph.output((env[exit_node], {q: env[n] for q, n in queries.items()}))
    segment = fx.GraphModule(root, graph, class_name="Segment")
    _out_of_place(segment)
    # Replaces modules in the segment's own containers only: the model keeps its layers.
    return fuse(segment, inplace=True, no_trace=True).eval()


def _out_of_place(segment: fx.GraphModule) -> None:
    """Make every op of the segment out of place, without touching the user's model.

    An in-place ReLU would overwrite a layer's output that another batch member still
    reads. Leaf modules are shared with the model, so they are replaced by copies.
    """
    for node in segment.graph.nodes:
        if node.op == "call_module":
            module = segment.get_submodule(node.target)
            if getattr(module, "inplace", False):
                replacement = copy.copy(module)
                replacement.inplace = False
                parent, _, leaf = node.target.rpartition(".")
                setattr(segment.get_submodule(parent) if parent else segment, leaf, replacement)
        elif node.op in ("call_function", "call_method") and node.kwargs.get("inplace"):
            node.kwargs = {**node.kwargs, "inplace": False}
        if node.op == "call_method" and node.target.endswith("_") and not node.target.startswith("_"):
            node.target = node.target[:-1]
    segment.recompile()
