"""How the input is optimised: the update rule, its schedules and the presets.

The paper's update is a plain step down ``loss_scale * sum|O(a) - O(x)|`` followed by a
Gaussian blur, from the noise ``a_0 = 0.7 + N(0, 1/20^2)``; :data:`METHODS` holds it
beside this book's default and the regularised inversion of Mahendran & Vedaldi (2015).
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torchvision.transforms.v2 import functional as TF

from depthrep._util.names import preset
from depthrep._util.streams import generator
from depthrep.errors import MethodError


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
    scales: tuple[float, ...] = (1.0,)
    """Coarse to fine: fractions of the image size optimised in turn, ending at 1, the steps
    shared equally. Each scale inverts the embedding of the target resized to it, from the
    last scale's reconstruction upsampled (from noise at the first); ``(1.0,)``: one scale."""

    def __post_init__(self):
        for name in ("lr", "blur"):  # one number: the same all run long
            value = getattr(self, name)
            if isinstance(value, numbers.Real) and not isinstance(value, bool):
                object.__setattr__(self, name, (float(value), float(value)))
        if not _pair(self.lr) or not (self.lr[0] > 0 and self.lr[1] >= 0):
            raise MethodError(
                f"lr must be a (start, end) pair, start above 0 and end at least 0, e.g. (0.1, 0.02), "
                f"not {self.lr!r}"
            )
        object.__setattr__(self, "lr", tuple(self.lr))
        if self.blur is not None:
            object.__setattr__(self, "blur", tuple(self.blur) if _pair(self.blur) else self.blur)
        if self.blur is not None and (not _pair(self.blur) or not all(v >= 0 for v in self.blur)):
            raise MethodError(
                f"blur must be a (start, end) pair of sigmas >= 0 (0: no blur at that point), or None "
                f"for none at all, not {self.blur!r}"
            )
        for name, least in (("loss_scale", 0), ("tv_beta", 0), ("alpha_p", 0)):
            if not _number(getattr(self, name)) or not getattr(self, name) > least:
                raise MethodError(
                    f"{name} must be a finite number above {least}, not {getattr(self, name)!r}"
                )
        for name in ("tv", "alpha", "init_std"):
            if not _number(getattr(self, name)) or getattr(self, name) < 0:
                raise MethodError(f"{name} must be a finite number >= 0, not {getattr(self, name)!r}")
        if not _number(self.init_mean):
            raise MethodError(f"init_mean must be a finite number, not {self.init_mean!r}")
        if self.optimizer not in ("adam", "sgd"):
            raise MethodError(f"optimizer must be 'adam' or 'sgd', not {self.optimizer!r}")
        scales = tuple(self.scales)
        rising = all(0 < a < b for a, b in itertools.pairwise(scales))
        if not scales or scales[-1] != 1 or scales[0] <= 0 or not rising:
            raise MethodError(f"scales must rise in (0, 1] to 1, e.g. (0.5, 1.0), not {self.scales!r}")
        object.__setattr__(self, "scales", scales)
        if self.blur is not None and (self.blur_kernel < 1 or self.blur_kernel % 2 == 0):
            raise MethodError(f"blur_kernel must be a positive odd int, not {self.blur_kernel}")

    def schedule(self, step: int, steps: int) -> tuple[float, float]:
        """``(lr, blur sigma)`` at ``step`` of ``steps`` (sigma 0 when blur is off)."""
        t = step / max(steps - 1, 1)
        lr = self.lr[0] + t * (self.lr[1] - self.lr[0])
        sigma = 0.0 if self.blur is None else self.blur[0] + t * (self.blur[1] - self.blur[0])
        return lr, sigma


def _number(value: object) -> bool:
    """Whether ``value`` is a finite real number (not a bool)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _pair(value: object) -> bool:
    """Whether ``value`` is a ``(start, end)`` pair of finite numbers."""
    return isinstance(value, tuple | list) and len(value) == 2 and all(map(_number, value))


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
    # The default with the blur fading to none by the last step: the blur shapes the image
    # early, the last steps fit the fine detail that an untrained EfficientNet-Lite0's deep
    # stages respond to. With the default's blur (ending at 0.3) its stage3-stage7 stayed above
    # m_r on grace_hopper at 128 px after 200 and 400 steps; with this one they reached it,
    # and the ImageNet model's deep reconstructions keep their structure (chapter 08).
    "fade": Method(blur=(1.0, 0.0)),
}


USES: dict[str, str] = {
    "adam": "the default: stable at every layer",
    "paper": "the paper's code",
    "mahendran": "regularised inversion (Mahendran & Vedaldi, 2015)",
    "fc": "the fully connected nets",
    "fade": "models whose deep stages need the fine detail (EfficientNet-Lite0, trained and untrained)",
}
"""What each preset of :data:`METHODS` is for (the book's table of presets)."""


def describe(name: str, method: Method | None = None) -> dict[str, str]:
    """One row of the book's table of presets, read from the preset itself (or from ``method``,
    shown under ``name``)."""
    m = get_method(name) if method is None else method

    def span(pair) -> str:
        if pair is None:
            return "none"
        return f"{pair[0]:g}" if pair[0] == pair[1] else f"{pair[0]:g} → {pair[1]:g}"

    extra = [f"loss scaled by {m.loss_scale:g}"] * (m.loss_scale != 1)
    extra += [f"total variation (weight {m.tv:g})"] * bool(m.tv)
    extra += [f"α-norm (weight {m.alpha:g})"] * bool(m.alpha)
    extra += [f"coarse to fine at {', '.join(f'{s:g}' for s in m.scales)} of the size"] * (len(m.scales) > 1)
    return {
        "preset": f"`{name}`", "update": "Adam" if m.optimizer == "adam" else "plain step",
        "step size": span(m.lr), "blur σ": span(m.blur), "clamp": "yes" if m.clamp else "no",
        "extra": ", ".join(extra), "for": USES.get(name, ""),
    }  # fmt: skip


def get_method(method: str | Method = "adam", **overrides) -> Method:
    """A preset of :data:`METHODS` (or a :class:`Method`) with fields replaced.

    >>> get_method("paper", lr=(0.1, 0.01)).lr
    (0.1, 0.01)

    Raises:
        MethodError: an unknown preset or field; the message lists the valid ones.
    """
    return preset(METHODS, method, overrides, kind="method", error=MethodError)


def start_image(shape: tuple[int, ...], seed: int = 0, method: str | Method = "adam") -> torch.Tensor:
    """The starting noise ``a_0 = init_mean + init_std * N(0, 1)``, drawn on the CPU.

    Image ``b`` of a batch always gets the same noise for a given seed and shape, so a
    layer's reconstruction does not depend on which other layers share the run.
    """
    m = get_method(method)
    return m.init_mean + m.init_std * torch.randn(shape, generator=generator(seed, "starts"))


Update = Callable[[torch.Tensor, float], None]
"""``update(grad, lr)``: one in-place step of the image its optimiser was made for."""


def optimiser(m: Method, x: torch.Tensor) -> Update:
    """The update rule of ``m`` for the images ``x`` ``(M, 3, H, W)``, changed in place: Adam's
    step (its moments kept per pixel, so each member moves as it would alone) or the paper's
    plain ``x <- x - lr * grad``."""
    if m.optimizer == "sgd":

        def sgd(grad: torch.Tensor, lr: float) -> None:
            x.sub_(lr * grad)

        return sgd
    adam = torch.optim.Adam([x], lr=m.lr[0])

    def adam_step(grad: torch.Tensor, lr: float) -> None:
        adam.param_groups[0]["lr"] = lr
        x.grad = grad
        adam.step()
        x.grad = None

    return adam_step


def after_step(m: Method, x: torch.Tensor, sigma: float) -> None:
    """What ``m`` does to the images ``x`` after each update, in place: blur them with
    ``sigma`` (the schedule's; 0: none) and clamp them to ``[0, 1]``."""
    if sigma > 0:
        x.copy_(TF.gaussian_blur(x, [m.blur_kernel] * 2, [sigma] * 2))
    if m.clamp:
        x.clamp_(0, 1)


def regularisers(m: Method, x: torch.Tensor) -> torch.Tensor | None:
    """``m``'s weighted total variation and alpha-norm per member, ``(M, 3, H, W) -> (M,)``;
    ``None`` when it has neither (Mahendran & Vedaldi, 2015)."""
    if not (m.tv or m.alpha):
        return None
    total = torch.zeros(len(x), device=x.device)
    if m.tv:
        dx = x[..., :-1, 1:] - x[..., :-1, :-1]
        dy = x[..., 1:, :-1] - x[..., :-1, :-1]
        total = total + m.tv * (dx.square() + dy.square()).pow(m.tv_beta / 2).flatten(1).mean(1)
    if m.alpha:
        total = total + m.alpha * (2 * x - 1).abs().pow(m.alpha_p).flatten(1).mean(1)
    return total


def smallest_image(m: Method) -> int:
    """The smallest side ``m`` can work on: its blur pads by reflection, total variation
    needs two pixels."""
    return max(m.blur_kernel // 2 + 1 if m.blur is not None else 1, 2 if m.tv else 1)
