"""Inversion: reconstruct an input from one layer's embedding by gradient descent.

The forward pass is the encoder and gradient descent on the input is the decoder
(Badger, *Depth and Representation in Vision Models*): start from noise
``a_0 = 0.7 + N(0, 1/20^2)`` and step down the L1 loss ``sum |O_l(a) - O_l(a_n)|``,
blurring the image after each step.

One call inverts many layers and images together: every (layer, image) pair is a batch
member, and each member stops paying once its own layer is computed (see
:class:`depthrep.encoder.Encoder`). Adam and the paper's plain step are elementwise, so
each member evolves exactly as it would alone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn
from torchvision.transforms.v2 import functional as TF
from tqdm.auto import tqdm

from .distances import SHIFT_SIGMA, generator, norm, shift
from .encoder import Encoder
from .models import load_model, model_device


@dataclass(frozen=True)
class Method:
    """How the input is optimised: update rule, schedules and regularisers.

    ``lr`` and ``blur`` are ``(start, end)`` pairs interpolated linearly over the run.
    The loss is ``loss_scale * sum|O(a) - O(x)|``; the regularisers of Mahendran &
    Vedaldi (2015) are added with weights relative to that data term normalised by
    ``sum|O(a)|``, so ``tv`` and ``alpha`` mean the same at every layer.
    """

    optimizer: str = "adam"
    """``"adam"`` or ``"sgd"`` (the paper's plain step ``x <- x - lr * grad``)."""
    lr: tuple[float, float] = (0.1, 0.02)
    blur: tuple[float, float] | None = (1.0, 0.3)
    """Gaussian blur sigma after each step, start -> end; ``None`` turns it off."""
    blur_kernel: int = 3
    clamp: bool = True
    """Clamp pixels to ``[0, 1]`` after each step."""
    loss_scale: float = 1.0
    tv: float = 0.0
    """Weight of total variation ``mean((dx^2 + dy^2)^(tv_beta / 2))``."""
    tv_beta: float = 2.0
    alpha: float = 0.0
    """Weight of the alpha-norm ``mean(|2x - 1|^alpha_p)`` (bounds pixel range)."""
    alpha_p: float = 6.0
    init_mean: float = 0.7
    init_std: float = 1 / 20

    def __post_init__(self):
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer must be 'adam' or 'sgd', not {self.optimizer!r}")
        if self.blur is not None and (self.blur_kernel < 1 or self.blur_kernel % 2 == 0):
            raise ValueError(f"blur_kernel must be a positive odd int, not {self.blur_kernel}")

    def schedule(self, step: int, steps: int) -> tuple[float, float]:
        """``(lr, blur sigma)`` at ``step`` of ``steps`` (sigma 0 when blur is off)."""
        t = step / max(steps - 1, 1)
        lr = self.lr[0] + t * (self.lr[1] - self.lr[0])
        sigma = 0.0 if self.blur is None else self.blur[0] + t * (self.blur[1] - self.blur[0])
        return lr, sigma


METHODS: dict[str, Method] = {
    # Default. Stable at every ResNet layer: pixels stay in [0, 1], Adam's per-pixel step
    # does not grow with the gradient, and the light blur keeps high-frequency noise out.
    # lr 0.1 -> 0.02 beat a constant 0.05 or 0.02 and a decay to 0.01 on m_g summed over
    # ResNet50's layers at 64 and 128 px, 100-200 steps (benchmarks/methods.py).
    "adam": Method(),
    # The paper's code: plain step 0.1 on 0.15 * L1, blur 2.4 -> 0.4, no clamp. Faithful,
    # but diverges at deep ResNet layers on small images.
    "paper": Method(optimizer="sgd", lr=(0.1, 0.1), blur=(2.4, 0.4), clamp=False, loss_scale=0.15),
    # Mahendran & Vedaldi (2015): total variation and alpha-norm instead of the blur.
    "mahendran": Method(blur=None, tv=0.5, alpha=0.05),
    # The fully connected nets: no blur and no clamp, as in the paper's MLP code (whose
    # plain L1 step needs 100,000+ iterations); Adam with a decaying step converges in
    # thousands.
    "fc": Method(lr=(0.01, 0.0001), blur=None, clamp=False),
}


def get_method(method: str | Method = "adam", **overrides) -> Method:
    """A preset of :data:`METHODS` (or a :class:`Method`) with fields replaced.

    >>> get_method("paper", lr=(0.1, 0.01)).lr
    (0.1, 0.01)
    """
    if isinstance(method, Method):
        base = method
    elif method in METHODS:
        base = METHODS[method]
    else:
        raise ValueError(f"Unknown method {method!r}: choose one of {', '.join(METHODS)}.")
    fields = {f.name for f in dataclasses.fields(Method)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"Unknown Method fields {unknown}: valid ones are {sorted(fields)}.")
    return dataclasses.replace(base, **overrides)


@dataclass(frozen=True)
class History:
    """Distances recorded during a run, before the update of each recorded step."""

    step: torch.Tensor
    """``(T,)`` step numbers; the last is the number of steps run (the final image)."""
    input_distance: torch.Tensor
    """``(T, B)``: ``m_i`` of each image at each recorded step."""
    embedding_distance: torch.Tensor
    """``(T, B)``: ``m_g`` of each image at each recorded step."""

    def input_response(self, after: float = 0.5) -> torch.Tensor:
        """``(B,)``: how far ``m_i`` follows ``m_g`` late in the run, ``d log m_i / d log m_g``.

        The ratio of the log-changes of the two distances between the record at fraction
        ``after`` of the run and the last one. Near 1, a better embedding match means a
        proportionally better reconstruction; near 0 (or negative), ``m_i`` has levelled
        off (or grows) while ``m_g`` keeps falling: the embedding no longer pins down the
        input.
        """
        first = self._index(after)
        log_i = self.input_distance[[first, -1]].log()
        log_g = self.embedding_distance[[first, -1]].log()
        return (log_i[1] - log_i[0]) / (log_g[1] - log_g[0])

    def embedding_fall(self, after: float = 0.5) -> torch.Tensor:
        """``(B,)``: factor by which ``m_g`` fell from fraction ``after`` of the run to its end."""
        return self.embedding_distance[self._index(after)] / self.embedding_distance[-1]

    def _index(self, fraction: float) -> int:
        return int(torch.searchsorted(self.step, fraction * self.step[-1]))


@dataclass(frozen=True)
class InversionResult:
    """The reconstruction of a batch of targets from one layer. Tensors are on the CPU."""

    layer: str
    image: torch.Tensor
    """``(B, 3, H, W)``: the reconstruction ``a_g``."""
    input_distance: torch.Tensor
    """``(B,)``: ``m_i = ||a_g - a||``."""
    embedding_distance: torch.Tensor
    """``(B,)``: ``m_g = ||O(a) - O(a_g)||``."""
    reference_distance: torch.Tensor
    """``(B,)``: ``m_r = ||O(a) - O(a')||``, the shifted-input reference."""
    shift_distance: torch.Tensor
    """``(B,)``: ``||a' - a||``, how far the shifted input is from the target."""
    target_norm: torch.Tensor
    """``(B,)``: ``||O(a)||``, the scale of the layer's embedding."""
    history: History
    steps: int
    """Steps run (fewer than asked when a callback stopped the run)."""

    @property
    def relative_embedding_distance(self) -> torch.Tensor:
        """``(B,)``: ``m_g / ||O(a)||``, comparable across layers and models."""
        return self.embedding_distance / self.target_norm


Callback = Callable[[int, dict[str, InversionResult]], bool | None]


def start_image(shape: tuple[int, ...], seed: int = 0, method: str | Method = "adam") -> torch.Tensor:
    """The starting noise ``a_0 = init_mean + init_std * N(0, 1)``, drawn on the CPU.

    Image ``b`` of a batch always gets the same noise for a given seed and shape, so a
    layer's reconstruction does not depend on which other layers share the run.
    """
    m = get_method(method)
    return m.init_mean + m.init_std * torch.randn(shape, generator=generator(seed, stream=0))


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
    autocast: bool = False,
    progress: bool | None = None,
    callback: Callback | None = None,
) -> dict[str, InversionResult]:
    """Reconstruct ``image`` from its embedding at each of ``layers``.

    Args:
        model: a frozen model in eval mode (:func:`depthrep.load_model`); the run is on
            its device.
        image: ``(B, 3, H, W)`` targets in ``[0, 1]``.
        layers: one layer name or several (:func:`depthrep.layers`); all run in one batch.
        steps: optimisation steps.
        seed: seeds the starting noise and the shifted input ``a'``.
        method: a preset name from :data:`METHODS` or a :class:`Method`.
        normalize: feed the model ImageNet-normalised pixels (off in the paper).
        record_every: steps between history records (default: about 50 records).
        shift_sigma: pixel noise of ``a'`` for the reference ``m_r``.
        autocast: run the model in bfloat16 (``torch.autocast``); the loss stays float32.
        progress: show a tqdm progress bar; ``None`` shows it unless the environment
            sets ``TQDM_DISABLE`` (as ``python -m depthrep.run`` does for executed notebooks).
        callback: called as ``callback(step, results_so_far)`` at every record; returning
            ``True`` stops the run early (the results then hold what was reached).

    Returns:
        ``{layer: InversionResult}`` in the order of ``layers``.
    """
    m = get_method(method)
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative int, not {steps!r}")
    device = model_device(model)
    encoder = Encoder(model, layers, normalize=normalize)
    target = image.detach().to(device, torch.float32)
    batch = len(target)
    order = encoder.depth_order
    blocks = {name: slice(i * batch, (i + 1) * batch) for i, name in enumerate(order)}
    record_every = record_every or max(1, steps // 50)

    with torch.no_grad():
        embeddings = encoder(target)
        shifted = shift(target, shift_sigma, seed)
        reference = {n: norm(e - encoder(shifted)[n]) for n, e in embeddings.items()}
        # Weight of the regularisers: sum|O(a)| per member, in batch order.
        l1 = torch.cat([embeddings[n].abs().flatten(1).sum(1) for n in order]).view(-1, 1, 1, 1)
    fixed = {
        "reference_distance": reference,
        "shift_distance": norm(shifted - target).cpu(),
        "target_norm": {n: norm(e).cpu() for n, e in embeddings.items()},
    }
    goal = target.repeat(len(order), 1, 1, 1)
    x = start_image(tuple(target.shape), seed, m).to(device).repeat(len(order), 1, 1, 1)
    x.requires_grad_(True)
    optimizer = torch.optim.Adam([x], lr=m.lr[0]) if m.optimizer == "adam" else None
    precision = torch.autocast(device.type, dtype=torch.bfloat16) if autocast else contextlib.nullcontext()
    records: list[tuple[int, torch.Tensor, torch.Tensor]] = []

    def record(step: int, distances: dict[str, torch.Tensor]) -> dict[str, InversionResult]:
        m_g = torch.cat([distances[n] for n in order]).cpu()
        records.append((step, norm(x - goal).cpu(), m_g))
        return _results(encoder.layers, blocks, x, goal, records, fixed, step)

    step = 0
    if progress is None:
        progress = not os.environ.get("TQDM_DISABLE")
    bar = tqdm(total=steps, desc=f"invert {len(order)} layer(s)", disable=not progress, leave=False)
    with bar:
        while step < steps:
            lr, sigma = m.schedule(step, steps)
            with precision:
                outputs = encoder.staged(x, blocks)
            diffs = {n: outputs[n].float() - embeddings[n] for n in order}
            loss = m.loss_scale * sum(d.abs().sum() for d in diffs.values())
            if m.tv or m.alpha:
                loss = loss + m.loss_scale * (l1 * _regularisers(x, m)).sum()
            (grad,) = torch.autograd.grad(loss, x)
            if step % record_every == 0:
                results = record(step, {n: norm(d) for n, d in diffs.items()})
                bar.set_postfix(rel_m_g=f"{_worst(results):.3g}")
                if callback is not None and callback(step, results):
                    break
            with torch.no_grad():
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
            step += 1
            bar.update()
    with torch.no_grad(), precision:
        final = encoder.staged(x, blocks)
    results = record(step, {n: norm(final[n].float() - embeddings[n]) for n in order})
    if callback is not None:
        callback(step, results)
    return results


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


def _results(layers, blocks, x, goal, records, fixed, steps) -> dict[str, InversionResult]:
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
            target_norm=fixed["target_norm"][name],
            history=History(step, m_i[:, block], m_g[:, block]),
            steps=steps,
        )
    return out


def _worst(results: dict[str, InversionResult]) -> float:
    return max(float(r.relative_embedding_distance.max()) for r in results.values())


def concat_results(runs: Iterable[dict[str, InversionResult]]) -> dict[str, InversionResult]:
    """Join the results of several runs (seeds, images) along the batch dimension.

    All runs must cover the same layers with the same recorded steps.
    """
    runs = list(runs)
    if not runs:
        raise ValueError("concat_results needs at least one run")
    joined = {}
    for name in runs[0]:
        parts = [run[name] for run in runs]
        steps = parts[0].history.step
        if any(not torch.equal(p.history.step, steps) for p in parts):
            raise ValueError(f"Runs recorded different steps at {name}: use the same steps and record_every.")
        fields = ("image", "input_distance", "embedding_distance", "reference_distance", "shift_distance")
        cat = {f: torch.cat([getattr(p, f) for p in parts]) for f in (*fields, "target_norm")}
        joined[name] = InversionResult(
            layer=name,
            **cat,
            history=History(
                steps,
                torch.cat([p.history.input_distance for p in parts], dim=1),
                torch.cat([p.history.embedding_distance for p in parts], dim=1),
            ),
            steps=min(p.steps for p in parts),
        )
    return joined


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
        image: ``(1, 3, H, W)`` target in ``[0, 1]``.
        invert_kwargs: passed to :func:`invert` (``method``, ``record_every``, ...).
    Returns:
        ``{layer: InversionResult}`` with batch dimension ``len(seeds)``, in seed order.
    """
    runs = []
    for seed in seeds:
        net = load_model(model, weights, seed=seed, device=device, image_size=image_size)
        runs.append(invert(net, image, layers, steps, seed=seed, **invert_kwargs))
    return concat_results(runs)


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
        image: ``(1, 3, S, S)``: the net is built for this input size.
    Returns:
        The last layer's result, batch dimension ``len(seeds)``.
    """
    from .models import fc_name

    layer = f"fc{len(widths)}"
    name = fc_name([int(w) for w in widths], relu)
    results = invert_over_seeds(
        name, image, layer, steps, seeds, method=method, image_size=image.shape[-1], **invert_kwargs
    )
    return results[layer]
