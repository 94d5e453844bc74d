"""Inversion: reconstruct an input from one layer's embedding by gradient descent.

The forward pass is the encoder and gradient descent on the input is the decoder
(Badger, *Depth and Representation in Vision Models*): start from noise and step down the
L1 distance between embeddings (see :mod:`depthrep.methods` for the update rules).

One call inverts many layers and images together: every (layer, image) pair is a batch
member, and each member stops paying once its own layer is computed (see
:class:`depthrep.encoder.Encoder`). Adam and the paper's plain step are elementwise, so
each member evolves as it would alone. Runs that diverge are caught member by member,
and a run too large for the memory budget is split into chunks with the same results.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable

import torch
from torch import nn
from torchvision.transforms.v2 import functional as TF
from tqdm.auto import tqdm

from .distances import SHIFT_SIGMA, flat_distance, norm, shift
from .encoder import Encoder, encoder_for
from .errors import DepthrepError
from .images import ImageError, check_image
from .methods import METHODS, Method, MethodError, get_method, start_image
from .models import load_model, model_device
from .precision import INVERSION, autocast, choose_precision
from .results import History, InversionResult, concat_results

__all__ = [  # the update rules and result types are re-exported for callers of this module
    "DIVERGENCE", "GRACE", "METHODS", "DivergenceError", "DivergenceWarning", "EmbeddingError",
    "InversionResult", "Method", "ZeroEmbeddingWarning", "get_method", "invert", "invert_fc",
    "invert_over_seeds", "start_image",
]  # fmt: skip

DIVERGENCE = 1.5
"""A member has diverged once its embedding distance is non-finite, or, after the first tenth
of the run (:data:`GRACE`), above this multiple of its value at step 0. Healthy runs end far
below their start, though the first large steps can overshoot it briefly (measured: up to
1.24 times at step 1 for a trained ResNet18's deep layers); the paper's plain step at deep
ResNet layers on small images climbs 2 to 20 times above it and stays there."""
GRACE = 0.1
"""Fraction of the run during which a finite overshoot is not yet called divergence."""

Callback = Callable[[int, dict[str, InversionResult]], bool | None]


class DivergenceWarning(UserWarning):
    """Some members of an inversion diverged; their results are frozen where it happened."""


class DivergenceError(DepthrepError, RuntimeError):
    """Raised instead of :class:`DivergenceWarning` by ``invert(..., strict=True)``."""


class ZeroEmbeddingWarning(UserWarning):
    """The target's embedding is zero at a layer (a flat image through an untrained net, say):
    the relative distances ``m_g / ||O(a)||`` are undefined there."""


class EmbeddingError(DepthrepError, ValueError):
    """The model's embedding of the target is not finite: its weights hold NaN or infinity."""


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
    memory_budget: int | None = None,
) -> dict[str, InversionResult]:
    """Reconstruct ``image`` from its embedding at each of ``layers``.

    Args:
        model: a frozen model in eval mode (:func:`depthrep.load_model`); the run is on
            its device.
        image: ``(B, 3, H, W)`` float targets in ``[0, 1]``
            (:func:`depthrep.images.check_image`; :func:`depthrep.load_image` makes one
            from a file, an array or a PIL image).
        layers: one layer name or several (:func:`depthrep.layers`); all run in one batch.
        steps: optimisation steps.
        seed: seeds the starting noise and the shifted input ``a'``.
        method: a preset name from :data:`depthrep.METHODS` or a :class:`Method`.
        normalize: feed the model ImageNet-normalised pixels (off in the paper).
        record_every: steps between history records (default: about 50 records).
        shift_sigma: pixel noise of ``a'`` for the reference ``m_r``.
        precision: ``"float32"`` (the default, and what the book's claims are checked in),
            ``"bfloat16"`` (autocast of the model; the loss stays float32) where the device
            runs it natively, or ``"auto"`` (bfloat16 where native). On a CPU that would
            only emulate bfloat16 a request for it warns and runs float32
            (:func:`depthrep.precision.choose_precision`).
        progress: show a tqdm progress bar; ``None`` shows it unless the environment
            sets ``TQDM_DISABLE`` (as ``python -m depthrep.run`` does for executed notebooks).
        callback: called as ``callback(step, results_so_far)`` at every record; returning
            ``True`` stops the run early (the results then hold what was reached). A run
            split into chunks calls it per chunk.
        strict: raise :class:`DivergenceError` when a member diverges, instead of freezing
            it, marking it in ``InversionResult.diverged_at`` and warning once at the end.
        memory_budget: bytes the run's activations may take. Above it the run is split
            into chunks of layers and images with the same results. ``None``: the free
            memory on CUDA, no limit on the CPU.

    Returns:
        ``{layer: InversionResult}`` in the order of ``layers``.

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
    """
    m = get_method(method)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise MethodError(f"steps must be a non-negative int, not {steps!r}")
    _check_size(check_image(image, "invert's image"), m)
    device = model_device(model)
    precision = choose_precision(device, precision)
    encoder = encoder_for(model, layers, normalize=normalize)
    target = image.detach().to(device, torch.float32)
    # Noise for the whole batch, drawn once: a chunk gets the rows of its images.
    start = start_image(tuple(target.shape), seed, m).to(device)
    shifted = shift(target, shift_sigma, seed)
    settings = dict(
        steps=steps, method=m, record_every=record_every or max(1, steps // 50), precision=precision,
        progress=(not os.environ.get("TQDM_DISABLE")) if progress is None else progress,
        callback=callback, strict=strict,
    )  # fmt: skip
    budget = memory_budget if memory_budget is not None else _free_cuda_memory(device)
    chunks = (
        _chunks(encoder, target, budget, precision) if budget is not None else [(encoder.layers, slice(None))]
    )
    try:
        if len(chunks) == 1:
            results = _run(encoder, target, start, shifted, **settings)
        else:
            results = _run_chunks(model, normalize, chunks, target, start, shifted, settings, encoder.layers)
    except (torch.OutOfMemoryError, RuntimeError) as err:
        if not _out_of_memory(err):
            raise
        need = sum(encoder.activation_bytes(target.shape[1:], precision).values()) * len(target)
        raise MemoryError(
            f"Out of memory on {device}: the run needs about {need / 2**30:.1f} GiB of activations. "
            f"Pass memory_budget=<bytes> to split it, or invert fewer layers or images at a time."
        ) from None
    _warn_divergence(results, strict)
    return results


def _out_of_memory(err: BaseException) -> bool:
    """Whether ``err`` is an allocator's failure: CUDA's OutOfMemoryError or the CPU's RuntimeError."""
    return isinstance(err, torch.OutOfMemoryError) or "can't allocate memory" in str(err)


def _check_size(image: torch.Tensor, m: Method) -> None:
    """Refuse targets smaller than the method's blur (reflect padding) or total variation take."""
    smallest = max(m.blur_kernel // 2 + 1 if m.blur is not None else 1, 2 if m.tv else 1)
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


def _run(
    encoder: Encoder,
    target,
    start,
    shifted,
    *,
    steps,
    method,
    record_every,
    precision,
    progress,
    callback,
    strict,
) -> dict[str, InversionResult]:
    """One batched run: every layer of ``encoder`` for every image of ``target``."""
    m = method
    device = target.device
    batch = len(target)
    order = encoder.depth_order
    blocks = {name: slice(i * batch, (i + 1) * batch) for i, name in enumerate(order)}
    with torch.no_grad():
        embeddings = _embed(encoder, target)
        near = encoder(shifted)  # one pass for every layer
        reference = {n: norm(e - near[n]) for n, e in embeddings.items()}
        # Weight of the regularisers: sum|O(a)| per member, in batch order.
        l1 = torch.cat([embeddings[n].abs().flatten(1).sum(1) for n in order]).view(-1, 1, 1, 1)
    fixed = {
        "reference_distance": reference,
        "shift_distance": norm(shifted - target).cpu(),
        "flat_distance": flat_distance(target).cpu(),
        "target_norm": {n: norm(e).cpu() for n, e in embeddings.items()},
    }
    goal = target.repeat(len(order), 1, 1, 1)
    x = start.repeat(len(order), 1, 1, 1).requires_grad_(True)
    optimizer = torch.optim.Adam([x], lr=m.lr[0]) if m.optimizer == "adam" else None
    records: list[tuple[int, torch.Tensor, torch.Tensor]] = []
    watch = _Watch(len(x), order, batch, strict, grace=max(2, int(GRACE * steps)))

    scale = torch.cat([fixed["target_norm"][n] for n in order])  # ||O(a)|| per member, batch order

    def record(step: int, m_g: torch.Tensor) -> float:
        """Keep this step's distances; returns the worst finite m_g / ||O(a)|| (the bar's postfix).
        Results are built only for a callback and at the end: building them copies every image."""
        records.append((step, norm(x - goal).cpu(), m_g.cpu()))
        relative = records[-1][2] / scale
        finite = relative[torch.isfinite(relative)]
        return float(finite.max()) if len(finite) else float("nan")

    def results_at(step: int) -> dict[str, InversionResult]:
        return _results(encoder.layers, blocks, x, records, fixed, step, watch.diverged_at)

    step = 0
    with tqdm(total=steps, desc=f"invert {len(order)} layer(s)", disable=not progress, leave=False) as bar:
        while step < steps:
            lr, sigma = m.schedule(step, steps)
            with autocast(device, precision):
                outputs = encoder.staged(x, blocks)
            diffs = [outputs[n].float() - embeddings[n] for n in order]
            loss = m.loss_scale * sum(d.abs().sum() for d in diffs)
            if m.tv or m.alpha:
                loss = loss + m.loss_scale * (l1 * _regularisers(x, m)).sum()
            (grad,) = torch.autograd.grad(loss, x)
            m_g = torch.cat([norm(d) for d in diffs])
            frozen = watch.check(step, m_g, x)
            if step % record_every == 0:
                bar.set_postfix(rel_m_g=f"{record(step, m_g):.3g}")
                if callback is not None and callback(step, results_at(step)):
                    break
            with torch.no_grad():
                kept = x[frozen].clone() if frozen is not None else None
                if optimizer is not None:
                    optimizer.param_groups[0]["lr"] = lr
                    x.grad = grad
                    optimizer.step()
                    x.grad = None
                else:
                    x.sub_(lr * grad)
                if sigma > 0:
                    x.copy_(TF.gaussian_blur(x, [m.blur_kernel] * 2, [sigma] * 2))
                if m.clamp:
                    x.clamp_(0, 1)
                if kept is not None:
                    x[frozen] = kept
            step += 1
            bar.update()
    with torch.no_grad(), autocast(device, precision):
        final = encoder.staged(x, blocks)
    m_g = torch.cat([norm(final[n].float() - embeddings[n]) for n in order])
    watch.check(step, m_g, x)
    record(step, m_g)
    results = results_at(step)
    if callback is not None:
        callback(step, results)
    return results


class _Watch:
    """Divergence bookkeeping for the members of one run."""

    def __init__(self, members: int, order: list[str], batch: int, strict: bool, grace: int):
        self.start: torch.Tensor | None = None
        self.diverged_at = torch.full((members,), -1, dtype=torch.long)
        self.order, self.batch, self.strict, self.grace = order, batch, strict, grace

    def check(self, step: int, m_g: torch.Tensor, x: torch.Tensor) -> torch.Tensor | None:
        """Mark newly diverged members; return the mask of frozen members (or None)."""
        m_g = m_g.detach().cpu()
        if self.start is None:
            self.start = m_g.clone()
        finite = torch.isfinite(x.detach()).flatten(1).all(1).cpu()
        grown = (m_g > DIVERGENCE * self.start) if step >= self.grace else torch.zeros_like(finite)
        bad = ~torch.isfinite(m_g) | grown | ~finite
        new = bad & (self.diverged_at < 0)
        if new.any():
            self.diverged_at[new] = step
            if self.strict:
                member = int(new.nonzero()[0])
                raise DivergenceError(
                    f"Inversion diverged at {self.order[member // self.batch]}, step {step}: m_g rose from "
                    f"{float(self.start[member]):.4g} to {float(m_g[member]):.4g}. Lower the step size "
                    f"(the method's lr) or use method='adam'."
                )
        frozen = self.diverged_at >= 0
        return frozen.to(x.device) if frozen.any() else None


def _warn_divergence(results: dict[str, InversionResult], strict: bool) -> None:
    diverged = [(name, r) for name, r in results.items() if r.diverged.any()]
    if not diverged or strict:
        return
    parts = []
    for name, r in diverged:
        members = r.diverged.nonzero().flatten().tolist()
        steps = ", ".join(str(int(r.diverged_at[b])) for b in members)
        parts.append(f"{name} (image {', '.join(map(str, members))} at step {steps})")
    warnings.warn(
        f"Inversion diverged at {'; '.join(parts)}: those results are frozen where it happened and "
        f"marked in InversionResult.diverged_at. Lower the step size (the method's lr) or use "
        f"method='adam'; strict=True raises instead.",
        DivergenceWarning,
        stacklevel=3,
    )


def _free_cuda_memory(device: torch.device) -> int | None:
    if device.type != "cuda":
        return None
    free, _ = torch.cuda.mem_get_info(device)
    return int(0.8 * free)


def _chunks(encoder: Encoder, target, budget: int, precision: str) -> list[tuple[list[str], slice]]:
    """Groups of (layers, images) whose activations fit in ``budget`` bytes, deepest first."""
    per_member = encoder.activation_bytes(target.shape[1:], precision)
    batch = len(target)
    deepest = max(per_member.values())
    if deepest * batch <= budget and sum(per_member.values()) * batch <= budget:
        return [(encoder.layers, slice(None))]
    images = max(1, min(batch, budget // max(deepest, 1)))
    if deepest > budget and target.device.type == "cuda":
        raise MemoryError(
            f"One member of the deepest layer needs about {deepest / 2**30:.2f} GiB of activations, "
            f"more than the {budget / 2**30:.2f} GiB available: use smaller images or a shallower layer."
        )
    groups: list[list[str]] = []
    used = 0
    for name in encoder.depth_order:  # deepest first, so groups share their deepest stages
        cost = per_member[name] * images
        if groups and used + cost <= budget:
            groups[-1].append(name)
            used += cost
        else:
            groups.append([name])
            used = cost
    return [(group, slice(i, i + images)) for group in groups for i in range(0, batch, images)]


def _run_chunks(
    model, normalize, chunks, target, start, shifted, settings, layers
) -> dict[str, InversionResult]:
    by_layers: dict[tuple[str, ...], list[dict[str, InversionResult]]] = {}
    for names, rows in chunks:
        encoder = encoder_for(model, names, normalize=normalize)
        part = _run(encoder, target[rows], start[rows], shifted[rows], **settings)
        by_layers.setdefault(tuple(names), []).append(part)
    joined: dict[str, InversionResult] = {}
    for parts in by_layers.values():
        joined.update(concat_results(parts))
    return {name: joined[name] for name in layers}


def _regularisers(x: torch.Tensor, m: Method) -> torch.Tensor:
    """Weighted TV and alpha-norm per member: ``(M, 3, H, W) -> (M, 1, 1, 1)``."""
    total = torch.zeros(len(x), device=x.device)
    if m.tv:
        dx = x[..., :-1, 1:] - x[..., :-1, :-1]
        dy = x[..., 1:, :-1] - x[..., :-1, :-1]
        total = total + m.tv * (dx.square() + dy.square()).pow(m.tv_beta / 2).flatten(1).mean(1)
    if m.alpha:
        total = total + m.alpha * (2 * x - 1).abs().pow(m.alpha_p).flatten(1).mean(1)
    return total.view(-1, 1, 1, 1)


def _results(layers, blocks, x, records, fixed, steps, diverged_at) -> dict[str, InversionResult]:
    step = torch.tensor([r[0] for r in records])
    m_i = torch.stack([r[1] for r in records])
    m_g = torch.stack([r[2] for r in records])
    image = x.detach().float().cpu()
    out = {}
    for name in layers:
        block = blocks[name]
        out[name] = InversionResult(
            layer=name,
            image=image[block],
            input_distance=m_i[-1, block],
            embedding_distance=m_g[-1, block],
            reference_distance=fixed["reference_distance"][name].cpu(),
            shift_distance=fixed["shift_distance"],
            flat_distance=fixed["flat_distance"],
            target_norm=fixed["target_norm"][name],
            history=History(step, m_i[:, block], m_g[:, block]),
            steps=steps,
            diverged_at=diverged_at[block].clone(),
        )
    return out


def invert_over_seeds(
    model: str,
    image: torch.Tensor,
    layers: str | Iterable[str],
    steps: int,
    seeds: Iterable[int] = (0, 1),
    *,
    weights: str = "random",
    device: str | torch.device | None = None,
    image_size: int | None = None,
    **invert_kwargs,
) -> dict[str, InversionResult]:
    """Invert with a fresh model and a fresh start for each seed; results joined along the batch.

    Seed ``s`` initialises the model (for ``weights="random"``) and the starting noise, so a
    claim that holds for every batch member holds across model initialisations and starts.

    Args:
        model: a model name (see :func:`depthrep.load_model`).
        image: ``(B, 3, H, W)`` targets in ``[0, 1]``.
        invert_kwargs: passed to :func:`invert` (``method``, ``record_every``, ...).
    Returns:
        ``{layer: InversionResult}`` with batch dimension ``len(seeds) * B``, seed-major:
        member ``k * B + b`` is seed ``k``'s image ``b`` (:func:`depthrep.mean_per_target`).
    """
    runs = []
    for seed in seeds:
        net = load_model(model, weights, seed=seed, device=device, image_size=image_size)
        runs.append(invert(net, image, layers, steps, seed=seed, **invert_kwargs))
    return concat_results(runs)


def invert_over_starts(
    model: nn.Module,
    image: torch.Tensor,
    layers: str | Iterable[str],
    steps: int,
    seeds: Iterable[int] = (0, 1),
    **invert_kwargs,
) -> dict[str, InversionResult]:
    """Invert with one model from a fresh start per seed; results joined along the batch, in seed
    order (member ``k * B + b`` is seed ``k``'s image ``b``). :func:`invert_over_seeds` also
    draws a fresh model per seed."""
    return concat_results(invert(model, image, layers, steps, seed=seed, **invert_kwargs) for seed in seeds)


def invert_fc(
    widths,
    image: torch.Tensor,
    steps: int,
    seeds: Iterable[int] = (0, 1),
    *,
    relu: bool = False,
    method: str | Method = "fc",
    **invert_kwargs,
) -> InversionResult:
    """Invert the last layer of the paper's fully connected net with these ``widths``, per seed.

    Args:
        widths: units per layer (floats are rounded down), e.g. ``[0.8 * n] * 3``.
        image: ``(B, 3, S, S)``: the net is built for this input size.
    Returns:
        The last layer's result, batch dimension ``len(seeds) * B``, seed-major (as
        :func:`invert_over_seeds`).
    """
    from .models import fc_name

    layer = f"fc{len(widths)}"
    name = fc_name([int(w) for w in widths], relu)
    results = invert_over_seeds(
        name, image, layer, steps, seeds, method=method, image_size=image.shape[-1], **invert_kwargs
    )
    return results[layer]
