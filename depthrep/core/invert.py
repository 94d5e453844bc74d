"""Inversion: reconstruct an input from one layer's embedding by gradient descent.

The forward pass is the encoder and gradient descent on the input is the decoder
(Badger, *Depth and Representation in Vision Models*): start from noise and step down the
L1 distance between embeddings. This module holds the loop only; it composes parts kept
elsewhere: the update rules and loss terms (:mod:`depthrep.core.methods`), the truncated model
and its memory plan (:mod:`depthrep.core.encoder`), divergence (:mod:`depthrep.core.divergence`) and
early stopping (:mod:`depthrep.core.stopping`).

One call inverts many layers and images together: every (layer, image) pair is a batch
member, and each member stops paying once its own layer is computed (see
:class:`depthrep.core.encoder.Encoder`). Adam and the paper's plain step are elementwise, so
each member evolves as it would alone. Runs that diverge are caught member by member,
members that have converged can leave the batch (``stop``), and a run too large for the
memory budget is split into chunks with the same results.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import warnings
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn
from torchvision.transforms.v2 import functional as TF

from depthrep._util.precision import INVERSION, autocast, choose_precision
from depthrep._util.progress import bar as progress_bar
from depthrep._util.streams import check_seed
from depthrep.core.distances import SHIFT_SIGMA, flat_distance, norm, shift
from depthrep.core.divergence import GRACE, Watch, warn_divergence
from depthrep.core.encoder import Encoder, check_weights, encoder_for
from depthrep.core.labels import pick, run_labels
from depthrep.core.methods import (
    Method,
    after_step,
    get_method,
    optimiser,
    regularisers,
    smallest_image,
    start_image,
)
from depthrep.core.results import History, InversionResult, concat_results
from depthrep.core.stopping import Stop, get_stop
from depthrep.core.store import Store, get_store, provenance, run_key, through
from depthrep.errors import (
    DivergenceError,
    DivergenceWarning,
    EmbeddingError,
    ImageError,
    MethodError,
    ZeroEmbeddingWarning,
)
from depthrep.zoo.images import check_image
from depthrep.zoo.models import model_device

__all__ = [
    "DivergenceError", "DivergenceWarning", "EmbeddingError", "InversionResult", "ZeroEmbeddingWarning",
    "invert",
]  # fmt: skip

Callback = Callable[[int, dict[str, InversionResult]], bool | None]


@dataclass(frozen=True)
class Settings:
    """How one run goes, as :func:`invert` checked it."""

    steps: int
    method: Method
    record_every: int
    precision: str
    progress: bool | None
    callback: Callback | None
    strict: bool
    stop: Stop | None


@dataclass(frozen=True)
class Yardsticks:
    """What a run's distances are measured against, per layer ``(B,)`` or per image ``(B,)``."""

    reference_distance: dict[str, torch.Tensor]
    """``m_r = ||O(a) - O(a')||`` per layer."""
    target_norm: dict[str, torch.Tensor]
    """``||O(a)||`` per layer."""
    shift_distance: torch.Tensor
    """``||a' - a||``."""
    flat_distance: torch.Tensor
    """The flat mean-colour image's distance from the target."""


def invert(
    model: nn.Module,
    image: torch.Tensor,
    layers: str | Iterable[str],
    steps: int = 200,
    *,
    seed: int = 0,
    method: str | Method = "adam",
    normalize: bool = False,
    record_every: int | None = None,
    shift_sigma: float = SHIFT_SIGMA,
    precision: str = INVERSION,
    progress: bool | None = None,
    callback: Callback | None = None,
    strict: bool = False,
    stop: bool | Stop | None = None,
    memory_budget: int | None = None,
    store: str | os.PathLike | Store | bool | None = None,
) -> dict[str, InversionResult]:
    """Reconstruct ``image`` from its embedding at each of ``layers``.

    Args:
        model: a frozen model in eval mode (:func:`depthrep.load_model`); the run is on
            its device.
        image: ``(B, 3, H, W)`` float targets in ``[0, 1]``
            (:func:`depthrep.zoo.images.check_image`; :func:`depthrep.load_image` makes one
            from a file, an array or a PIL image).
        layers: one layer name or several (:func:`depthrep.layers`); all run in one batch.
        steps: optimisation steps (the most any member runs, with ``stop``).
        seed: seeds the starting noise and the shifted input ``a'``.
        method: a preset name from :data:`depthrep.METHODS` or a :class:`Method`.
        normalize: scale pixels as the model's weights expect (:func:`depthrep.zoo.models.input_scaling`;
            off in the paper).
        record_every: steps between history records (default: about 50 records).
        shift_sigma: pixel noise of ``a'`` for the reference ``m_r``.
        precision: ``"float32"`` (the default, and what the book's claims are checked in),
            ``"bfloat16"`` (autocast of the model; the loss stays float32) where the device
            runs it natively, or ``"auto"`` (bfloat16 where native). On a CPU that would
            only emulate bfloat16 a request for it warns and runs float32
            (:func:`depthrep._util.precision.choose_precision`).
        progress: show a tqdm progress bar; ``None`` shows it unless the environment
            sets ``TQDM_DISABLE`` (as ``python -m depthrep book`` does for executed notebooks).
        callback: called as ``callback(step, results_so_far)`` at every record; returning
            ``True`` stops the run early (the results then hold what was reached). A run
            split into chunks calls it per chunk.
        strict: raise :class:`DivergenceError` when a member diverges, instead of freezing
            it, marking it in ``InversionResult.diverged_at`` and warning once at the end.
        stop: let converged members leave the batch (:class:`depthrep.Stop`; ``True``: its
            defaults). A stopped member keeps its image of that step and the later steps
            skip it; ``InversionResult.stopped_at`` records the step. Off by default: the
            paper's experiments run a fixed number of steps.
        memory_budget: bytes the run's activations may take. Above it the run is split
            into chunks of layers and images with the same results. ``None``: the free
            memory on CUDA, no limit on the CPU.
        store: a folder that keeps results (:mod:`depthrep.core.store`): a run it holds is read back,
            bit for bit, instead of computed, and a run it lacks is kept there. ``None``: the
            folder ``$DEPTHREP_STORE`` names, if any; ``False``: compute, keep nothing. A run a
            callback stopped early is not kept; on a run read back the callback is called once.

    Returns:
        ``{layer: InversionResult}`` in the order of ``layers``, each member labelled with
        its ``target`` (its index in ``image``) and ``seed`` (:attr:`InversionResult.labels`).

    Raises:
        ImageError: ``image`` is not a ``(B, 3, H, W)`` float tensor in ``[0, 1]``, or is
            smaller than the method's blur or the model accept.
        EmbeddingError: the model's embedding of the target is not finite (NaN weights).
        DivergenceError: with ``strict=True``, when a member diverges.
        MemoryError: when the run does not fit in memory (on CUDA: when even one member
            does not fit); the message gives the estimate and ``memory_budget``.

    Warns:
        ZeroEmbeddingWarning: the target's embedding is zero at a layer.
        DivergenceWarning: some members diverged (see ``strict``).

    Examples:
        Five steps at two layers of an untrained ResNet18 (``weights="random"``: nothing is
        downloaded), from a 32 px sample photo:

        >>> import depthrep
        >>> model = depthrep.load_model("resnet18")
        >>> image = depthrep.load_image("grace_hopper", 32)
        >>> results = depthrep.invert(model, image, ["conv1", "conv3"], steps=5, progress=False)
        >>> list(results)
        ['conv1', 'conv3']
        >>> result = results["conv3"]
        >>> type(result).__name__, tuple(result.image.shape), result.steps
        ('InversionResult', (1, 3, 32, 32), 5)
        >>> tuple(result.input_distance.shape), result.labels
        ((1,), {'target': (0,), 'seed': (0,)})
        >>> bool(result.diverged.any())
        False
        >>> list(result.summary())[:5]
        ['m_i', 'm_g', 'm_r', 'shift_distance', 'flat_distance']
    """
    m = get_method(method)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise MethodError(f"steps must be a non-negative int, not {steps!r}")
    if record_every is not None and (isinstance(record_every, bool) or not isinstance(record_every, int)
                                     or record_every < 1):  # fmt: skip
        raise MethodError(
            f"record_every must be a positive int (steps between records) or None, not {record_every!r}"
        )
    if (
        isinstance(shift_sigma, bool)
        or not isinstance(shift_sigma, int | float)
        or not 0 < shift_sigma < math.inf
    ):
        raise MethodError(
            f"shift_sigma must be a finite number above 0 (the paper's is 1/25), not {shift_sigma!r}"
        )
    seed = check_seed(seed)
    _check_size(check_image(image, "invert's image"), m)
    check_weights(model)
    device = model_device(model)
    encoder = encoder_for(model, layers, normalize=normalize)
    target = image.detach().to(device, torch.float32)
    settings = Settings(
        steps=steps, method=m, record_every=record_every or max(1, steps // 50),
        precision=choose_precision(device, precision),
        progress=progress,
        callback=callback, strict=strict, stop=get_stop(stop),
    )  # fmt: skip
    budget = memory_budget if memory_budget is not None else _free_cuda_memory(device)
    labels = run_labels(len(target), seed)
    watched, stopped = _noting_stops(settings)  # a run its callback stopped early is not kept
    described = {"layers": encoder.layers, "normalize": normalize, "seed": seed, "shift_sigma": shift_sigma}
    results, read = through(
        get_store(store),
        key=lambda: run_key(model, target, {**described, **_numbers(settings)}),
        compute=lambda: (
            _compute(model, encoder, target, watched, labels, seed, shift_sigma, budget),
            not stopped,
        ),
        run=lambda seconds: provenance(device, settings.precision, seconds),
    )
    if read and callback is not None:
        callback(max(r.steps for r in results.values()), results)
    if not strict:
        warn_divergence({name: r.diverged_at for name, r in results.items()})
    return results


def _noting_stops(s: Settings) -> tuple[Settings, list[int]]:
    """``s`` with a callback that also notes, in the list returned, the step at which it stopped the run."""
    stopped: list[int] = []
    if s.callback is None:
        return s, stopped
    given = s.callback

    def noting(step, found):
        leave = given(step, found)
        if leave:
            stopped.append(step)
        return leave

    return dataclasses.replace(s, callback=noting), stopped


def _numbers(s: Settings) -> dict:
    """The settings that change a run's numbers (not progress, callback or memory)."""
    return {"steps": s.steps, "method": s.method, "record_every": s.record_every, "precision": s.precision,
            "strict": s.strict, "stop": s.stop}  # fmt: skip


def _compute(model, encoder: Encoder, target, settings: Settings, labels, seed, shift_sigma, budget):
    """The run :func:`invert` set up: from one batch of starting noise, coarse to fine where the
    method has several scales."""
    m, device = settings.method, target.device
    sizes = [[max(1, round(scale * side)) for side in target.shape[-2:]] for scale in m.scales]
    # Noise for the whole batch, drawn once: a chunk gets the rows of its images.
    noise = start_image((*target.shape[:2], *sizes[0]), seed, m).to(device)
    starts = dict.fromkeys(encoder.layers, noise)
    if len(sizes) > 1:  # coarse to fine: the steps shared equally, the last scale gets the rest
        share = settings.steps // len(sizes)
        coarse = dataclasses.replace(settings, steps=share, record_every=max(1, share // 50), callback=None)
        for size, bigger in itertools.pairwise(sizes):
            small = TF.resize(target, size, antialias=True).clamp(0, 1)
            found = _chunked(
                model, encoder, small, starts, shift(small, shift_sigma, seed), coarse, budget, labels
            )
            starts = {name: TF.resize(r.image.to(device), bigger) for name, r in found.items()}
        settings = dataclasses.replace(settings, steps=settings.steps - share * (len(sizes) - 1))
    return _chunked(
        model, encoder, target, starts, shift(target, shift_sigma, seed), settings, budget, labels
    )


def _chunked(
    model, encoder: Encoder, target, starts, shifted, s: Settings, budget, labels
) -> dict[str, InversionResult]:
    """One run, in chunks of layers and images that fit in ``budget`` bytes (``None``: one chunk);
    ``labels``: the images' (:func:`depthrep.core.labels.run_labels`)."""
    if budget is None:
        chunks = [(encoder.layers, slice(None))]
    else:
        chunks = encoder.chunks(tuple(target.shape[1:]), len(target), budget, s.precision)
    parts: list[dict[str, InversionResult]] | None = []
    try:
        for names, rows in chunks:
            part = encoder if len(chunks) == 1 else encoder_for(model, names, normalize=encoder.normalize)
            mine = {name: starts[name][rows] for name in names}
            parts.append(_run(part, target[rows], mine, shifted[rows], s, pick(labels, rows)))
    except (torch.OutOfMemoryError, RuntimeError) as err:
        if not _out_of_memory(err):
            raise
        parts = None  # leaving this block frees the failed run's tensors, which its traceback holds
    if parts is None:
        raise MemoryError(
            f"Out of memory on {target.device}: {_need(encoder, target, s.precision)}. "
            f"Pass memory_budget=<bytes> to split it, or invert fewer layers or images at a time."
        ) from None
    return _join(parts, encoder.layers)


def _need(encoder: Encoder, target: torch.Tensor, precision: str) -> str:
    """What a run of ``target`` ``(B, 3, H, W)`` at every layer needs, said after it ran out of
    memory: measured with one image, which may not fit either (then said so)."""
    if target.device.type == "cuda":
        torch.cuda.empty_cache()
    try:
        need = sum(encoder.activation_bytes(tuple(target.shape[1:]), precision).values()) * len(target)
    except (torch.OutOfMemoryError, RuntimeError) as err:
        if not _out_of_memory(err):
            raise
        side = "x".join(map(str, target.shape[2:]))
        return f"even one {side} image's forward pass does not fit, so the run needs far more than is free"
    return f"the run needs about {need / 2**30:.1f} GiB of activations"


def _join(parts: list[dict[str, InversionResult]], layers: list[str]) -> dict[str, InversionResult]:
    """The results of the chunks of one run, joined: images along the batch, layers side by side."""
    if len(parts) == 1:
        return parts[0]
    by_layers: dict[tuple[str, ...], list[dict[str, InversionResult]]] = {}
    for part in parts:
        by_layers.setdefault(tuple(part), []).append(part)
    joined: dict[str, InversionResult] = {}
    for same in by_layers.values():
        joined.update(concat_results(same))
    return {name: joined[name] for name in layers}


def _out_of_memory(err: BaseException) -> bool:
    """Whether ``err`` is an allocator's failure: CUDA's OutOfMemoryError or the CPU's RuntimeError."""
    return isinstance(err, torch.OutOfMemoryError) or "can't allocate memory" in str(err)


def _check_size(image: torch.Tensor, m: Method) -> None:
    """Refuse targets smaller than the method's blur (reflect padding) or total variation take."""
    smallest = smallest_image(m)
    if min(image.shape[-2:]) < smallest:
        raise ImageError(
            f"invert's image is {image.shape[-2]}x{image.shape[-1]} pixels; this method needs at least "
            f"{smallest}x{smallest} (its blur or total variation): pass a larger image."
        )


def _embed(encoder: Encoder, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """The target's embeddings, or an error that says why the model cannot make them."""
    try:
        embeddings = encoder(target)
    except (RuntimeError, ValueError, AssertionError) as err:
        if _out_of_memory(err):
            raise
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        size = f"{target.shape[-2]}x{target.shape[-1]}"
        raise ImageError(
            f"The model cannot embed a {size} image at {', '.join(encoder.layers)} ({first}): "
            "pass a larger image, or one the architecture accepts."
        ) from err
    broken = [n for n, e in embeddings.items() if not torch.isfinite(e).all()]
    if broken:
        weights = {id(p): p for segment in encoder.segments for p in segment.parameters()}.values()
        bad = sum(int((~torch.isfinite(p)).sum()) for p in weights)
        raise EmbeddingError(
            f"The model's embedding of the target is NaN or infinite at {', '.join(broken)}; "
            f"{bad} of its weights are NaN or infinite: load other weights (the target itself is finite)."
        )
    zero = {n: (e.flatten(1).abs().amax(1) == 0).nonzero().flatten().tolist() for n, e in embeddings.items()}
    zero = {n: members for n, members in zero.items() if members}
    if zero:
        where = "; ".join(f"{n} (image {', '.join(map(str, b))})" for n, b in zero.items())
        warnings.warn(
            f"The target's embedding is zero at {where}: every input that maps to zero there matches it "
            "exactly, and relative distances (m_g / ||O(a)||) are undefined. A flat image through an "
            "untrained model does this; pass an image with some texture.",
            ZeroEmbeddingWarning,
            stacklevel=4,
        )
    return embeddings


def _run(encoder: Encoder, target, starts, shifted, s: Settings, labels) -> dict[str, InversionResult]:
    """One batched run: every layer of ``encoder`` for every image of ``target``, each layer's
    members from ``starts[layer]`` ``(B, 3, H, W)``, labelled ``labels``.

    Members (layer, image) are kept deepest layer first (:attr:`Encoder.deepest_first`). Each
    step computes only the active ones: a member that diverged or converged is frozen, its
    image kept as it was at that step, and leaves the batch.
    """
    m, device, batch = s.method, target.device, len(target)
    order = encoder.deepest_first
    with torch.no_grad():
        embeddings = _embed(encoder, target)
        near = encoder(shifted)  # one pass for every layer
        l1 = torch.cat([embeddings[n].abs().flatten(1).sum(1) for n in order])  # regulariser weights
    yardsticks = Yardsticks(
        reference_distance={n: norm(e - near[n]).cpu() for n, e in embeddings.items()},
        target_norm={n: norm(e).cpu() for n, e in embeddings.items()},
        shift_distance=norm(shifted - target).cpu(),
        flat_distance=flat_distance(target).cpu(),
    )
    members = len(order) * batch
    m_r = torch.cat([yardsticks.reference_distance[n] for n in order])
    scale = torch.cat([yardsticks.target_norm[n] for n in order])
    goal = target.repeat(len(order), 1, 1, 1)
    x = torch.cat([starts[name] for name in order])  # a new tensor: the starts stay as given
    update = optimiser(m, x)
    layer_of = [name for name in order for _ in range(batch)]
    watch = Watch(members, layer_of, s.strict, grace=max(2, int(GRACE * s.steps)))
    stopped_at = torch.full((members,), -1, dtype=torch.long)
    m_g = torch.full((members,), float("nan"))  # each member's latest, on the CPU
    recent: deque[torch.Tensor] = deque(maxlen=s.stop.window + 1 if s.stop else 1)
    active = torch.ones(members, dtype=torch.bool)
    records: list[tuple[int, torch.Tensor, torch.Tensor]] = []

    def measure(step: int, index, blocks, wanted, xa) -> torch.Tensor:
        """Forward the active members ``xa`` against their targets' embeddings ``wanted``; their
        distances go into ``m_g``, divergence is checked; returns the differences per layer (with
        the graph, for the gradient)."""
        with autocast(device, s.precision):
            outputs = encoder.staged(xa, blocks)
        diffs = [outputs[n].float() - wanted[n] for n in blocks]
        m_g[index] = torch.cat([norm(d.detach()) for d in diffs]).cpu()
        finite = torch.ones(members, dtype=torch.bool)
        finite[index] = torch.isfinite(xa.detach()).flatten(1).all(1).cpu()
        active[watch.check(step, m_g, finite)] = False
        return diffs

    def record(step: int) -> float:
        """Keep this step's distances; returns the worst finite m_g / ||O(a)|| (the bar's postfix).
        Results are built only for a callback and at the end: building them copies every image."""
        records.append((step, norm(x - goal).cpu(), m_g.clone()))
        relative = m_g / scale
        finite = relative[torch.isfinite(relative)]
        return float(finite.max()) if len(finite) else float("nan")

    def results_at(step: int) -> dict[str, InversionResult]:
        return _results(encoder.layers, order, batch, x, records, yardsticks, step, watch.diverged_at,
                        stopped_at, labels)  # fmt: skip

    step, plan, planned, wanted = 0, None, active, {}
    bar = progress_bar(s.progress, total=s.steps, desc=f"invert {len(order)} layer(s)", leave=False)
    with bar:
        while step < s.steps and active.any():
            if plan is None or not torch.equal(active, planned):  # some left the batch: plan anew
                plan, planned = _plan(active, order, batch, device), active.clone()
                wanted = _wanted(embeddings, plan)  # gathered once per plan, not per step
            index, blocks, _ = plan
            lr, sigma = m.schedule(step, s.steps)
            xa = (x if index is None else x[index]).detach().requires_grad_(True)
            diffs = measure(step, slice(None) if index is None else index.cpu(), blocks, wanted, xa)
            loss = m.loss_scale * sum(d.abs().sum() for d in diffs)
            extra = regularisers(m, xa)
            if extra is not None:
                loss = loss + m.loss_scale * (extra * (l1 if index is None else l1[index])).sum()
            (grad,) = torch.autograd.grad(loss, xa)
            if s.stop is not None:
                recent.append(m_g.clone())
                before = recent[0] if len(recent) == recent.maxlen else torch.full_like(m_g, float("nan"))
                done = s.stop.converged(before, m_g, m_r) & active
                stopped_at[done] = step
                active[done] = False
            if step % s.record_every == 0:
                bar.set_postfix(rel_m_g=f"{record(step):.3g}")
                if s.callback is not None and s.callback(step, results_at(step)):
                    break
            with torch.no_grad():
                if index is not None:
                    grad = torch.zeros_like(x).index_copy_(0, index, grad)
                frozen = (~active).to(device)
                kept = x[frozen] if frozen.any() else None  # indexing by a mask copies
                update(grad, lr)
                after_step(m, x, sigma)
                if kept is not None:
                    x[frozen] = kept
            step += 1
            bar.update()
    if active.any():  # the final images' distances; a frozen member's are those it stopped at
        plan = _plan(active, order, batch, device)
        index, blocks, _ = plan
        with torch.no_grad():
            xa = x if index is None else x[index]
            chosen = slice(None) if index is None else index.cpu()
            measure(step, chosen, blocks, _wanted(embeddings, plan), xa)
    record(step)
    results = results_at(step)
    if s.callback is not None:
        s.callback(step, results)
    return results


def _plan(active: torch.Tensor, order: list[str], batch: int, device):
    """The batch of the active members, in depth order: ``(index, blocks, rows)``.

    ``index`` gathers them from the full batch (``None``: all are active); ``blocks`` gives
    each layer's slice of the gathered batch (layers without an active member left out), for
    :meth:`Encoder.staged`; ``rows`` each layer's images, to index its target embedding.
    """
    if bool(active.all()):
        blocks = {name: slice(k * batch, (k + 1) * batch) for k, name in enumerate(order)}
        return None, blocks, dict.fromkeys(order, slice(None))
    blocks, rows, at = {}, {}, 0
    for k, name in enumerate(order):
        mine = active[k * batch : (k + 1) * batch]
        count = int(mine.sum())
        if count:
            blocks[name] = slice(at, at + count)
            rows[name] = slice(None) if count == batch else mine.nonzero().flatten().to(device)
            at += count
    return active.nonzero().flatten().to(device), blocks, rows


def _wanted(embeddings: dict[str, torch.Tensor], plan) -> dict[str, torch.Tensor]:
    """The target embeddings of a plan's active members, per layer (a view when a layer's
    images are all active)."""
    _, blocks, rows = plan
    return {name: embeddings[name][rows[name]] for name in blocks}


def _free_cuda_memory(device: torch.device) -> int | None:
    if device.type != "cuda":
        return None
    free, _ = torch.cuda.mem_get_info(device)
    return int(0.8 * free)


def _results(
    layers, order, batch, x, records, yardsticks: Yardsticks, steps, diverged_at, stopped_at, labels
) -> dict[str, InversionResult]:
    step = torch.tensor([r[0] for r in records])
    m_i = torch.stack([r[1] for r in records])
    m_g = torch.stack([r[2] for r in records])
    image = x.detach().float().cpu().clone()  # a snapshot: x goes on changing (on a CPU .cpu() is x)
    out = {}
    for name in layers:
        k = order.index(name)
        block = slice(k * batch, (k + 1) * batch)
        out[name] = InversionResult(
            layer=name,
            image=image[block],
            input_distance=m_i[-1, block],
            embedding_distance=m_g[-1, block],
            reference_distance=yardsticks.reference_distance[name],
            shift_distance=yardsticks.shift_distance,
            flat_distance=yardsticks.flat_distance,
            target_norm=yardsticks.target_norm[name],
            history=History(step, m_i[:, block], m_g[:, block]),
            steps=steps,
            diverged_at=diverged_at[block].clone(),
            stopped_at=stopped_at[block].clone(),
            labels=dict(labels),
        )
    return out
